"""Read PDFs back the way people's tools do: poppler's pdftotext (apt-get install poppler-utils)."""

from __future__ import annotations

import shutil
import subprocess
from xml.etree import ElementTree  # noqa: S405 - parses what our own pdftotext call wrote

from tests.conftest import require

XHTML = "{http://www.w3.org/1999/xhtml}"


def pdf_text(content: bytes, *, layout: bool = False) -> str:
    """Return the text pdftotext reads from a PDF (UTF-8, reading order, pages end in \\f);
    ``layout``: as laid out on the page (-layout), lines across inline boxes kept whole."""
    require(
        shutil.which("pdftotext") is not None, "needs pdftotext (apt-get install poppler-utils)"
    )
    result = subprocess.run(
        ["pdftotext", *(["-layout"] if layout else []), "-enc", "UTF-8", "-", "-"],
        input=content,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode()


def pdf_fonts(content: bytes) -> set[str]:
    """Return the names of the fonts embedded in a PDF, subset prefixes dropped (pdffonts)."""
    require(shutil.which("pdffonts") is not None, "needs pdffonts (apt-get install poppler-utils)")
    result = subprocess.run(["pdffonts", "-"], input=content, capture_output=True, check=True)
    lines = result.stdout.decode().splitlines()[2:]  # after the header and its underline
    names = [line.split()[0] for line in lines if line.strip()]
    return {name.partition("+")[2] or name for name in names}


def pdf_page_fill(content: bytes) -> list[float]:
    """Return, per page, how far down its text reaches: the lowest word's bottom edge as a
    share of the page's height (0-1), the page-number footer left out (pdftotext -bbox)."""
    require(
        shutil.which("pdftotext") is not None, "needs pdftotext (apt-get install poppler-utils)"
    )
    result = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", "-", "-"],
        input=content,
        capture_output=True,
        check=True,
    )
    fills = []
    for page in ElementTree.fromstring(result.stdout).iter(f"{XHTML}page"):  # noqa: S314
        height = float(page.get("height", "0"))
        words = list(page.iter(f"{XHTML}word"))
        footer = words[-4:] if [w.text for w in words[-4:]][::2] == ["page", "of"] else []
        bottoms = [float(w.get("yMax", "0")) for w in words if w not in footer]
        fills.append(max(bottoms, default=0.0) / height)
    return fills
