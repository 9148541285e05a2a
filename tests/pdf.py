"""Read PDFs back the way people's tools do: poppler's pdftotext (apt-get install poppler-utils)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import require


def pdf_text(content: bytes) -> str:
    """Return the text pdftotext reads from a PDF (UTF-8, reading order, pages end in \\f)."""
    require(
        shutil.which("pdftotext") is not None, "needs pdftotext (apt-get install poppler-utils)"
    )
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True, check=True
    )
    return result.stdout.decode()
