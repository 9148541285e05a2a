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


def pdf_fonts(content: bytes) -> set[str]:
    """Return the names of the fonts embedded in a PDF, subset prefixes dropped (pdffonts)."""
    require(shutil.which("pdffonts") is not None, "needs pdffonts (apt-get install poppler-utils)")
    result = subprocess.run(["pdffonts", "-"], input=content, capture_output=True, check=True)
    lines = result.stdout.decode().splitlines()[2:]  # after the header and its underline
    names = [line.split()[0] for line in lines if line.strip()]
    return {name.partition("+")[2] or name for name in names}
