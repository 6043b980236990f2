"""OpenDocument spreadsheets (.ods): each table a page named by the sheet, rows with headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.office import (
    open_archive,
    parse_xml,
    read_member,
    refuse_encrypted_odf,
)
from embeddinggemma_rag.core.intake.parsing.tables import rows_as_text, sheet_page

SUFFIXES = frozenset({".ods", ".ots"})

_KIND = "ODS"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_CELLS = (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell")
# Spreadsheets write "the rest of the sheet" as one row repeated a million times, or one cell
# repeated 16,384 times: repeats are honoured up to these counts (a hostile file gets no more).
_MAX_REPEATED_ROWS = 100
_MAX_REPEATED_CELLS = 1_000


def parse(path: Path) -> ParsedDocument:
    with open_archive(path, _KIND) as archive:
        refuse_encrypted_odf(archive, path, _KIND)
        content = read_member(archive, "content.xml", path)
        if content is None:
            raise DocumentError(path, f"damaged or not a valid {_KIND} file (no content.xml)")
        root = parse_xml(content, path, _KIND, "content.xml")
    pages: list[PageText] = []
    for number, table in enumerate(root.iter(f"{_TABLE}table"), start=1):
        text = rows_as_text(_rows(table), path)
        pages.append(sheet_page(number, table.get(f"{_TABLE}name", ""), text))
    return ParsedDocument(title=None, pages=tuple(pages))


def _rows(table: Element) -> Iterator[list[str]]:
    for row in table.iter(f"{_TABLE}table-row"):
        cells = _cells(row)
        if not any(cells):
            continue
        repeat = _count(row.get(f"{_TABLE}number-rows-repeated"), _MAX_REPEATED_ROWS)
        for _ in range(repeat):
            yield cells


def _cells(row: Element) -> list[str]:
    cells: list[str] = []
    for cell in row:
        if cell.tag not in _CELLS:
            continue
        paragraphs = [" ".join("".join(p.itertext()).split()) for p in cell.iter(f"{_TEXT}p")]
        text = " ".join(p for p in paragraphs if p)
        repeat = _count(cell.get(f"{_TABLE}number-columns-repeated"), _MAX_REPEATED_CELLS)
        cells.extend([text] * repeat)
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _count(value: str | None, limit: int) -> int:
    try:
        return max(1, min(int(value or "1"), limit))
    except ValueError:
        return 1
