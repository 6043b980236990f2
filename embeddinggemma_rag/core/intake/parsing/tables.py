"""Tables as text: CSV files, and the row format every spreadsheet parser shares."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing import limits
from embeddinggemma_rag.core.intake.parsing.encoding import decode_text, read_text_bytes

SUFFIXES = frozenset({".csv", ".tsv"})

_SNIFF_CHARS = 64 * 1024
_MAX_CELL_CHARS = 2_000  # a cell longer than this is a document pasted in a cell: cut it
csv.field_size_limit(10 * 1024 * 1024)  # a long cell must fail the text limit, not the csv module


def parse(path: Path) -> ParsedDocument:
    text = decode_text(read_text_bytes(path), path)
    dialect: type[csv.Dialect] | csv.Dialect
    if path.suffix.lower() == ".tsv":
        dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=",;\t|")
        except csv.Error:  # one column, or too irregular to tell: commas
            dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    return ParsedDocument(title=None, pages=(PageText(None, rows_as_text(rows, path)),))


def rows_as_text(rows: Iterable[Sequence[object]], path: Path) -> str:
    """One line per row, each value named by its column's header (the first non-empty row):
    "Name: Ada | Year: 1887". A passage cut from the middle of a sheet still says what each
    number means. Empty cells and rows are left out."""
    lines: list[str] = []
    header: list[str] | None = None
    characters = 0
    for row in rows:
        cells = [_cell(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            lines.append(" | ".join(cell for cell in cells if cell))
        else:
            lines.append(_named_row(header, cells))
        characters += len(lines[-1]) + 1
        limits.check_text_length(path, characters)
    return "\n".join(lines)


def sheet_page(number: int, name: str, text: str) -> PageText:
    """A sheet as a page: numbered for citations, labelled with its name."""
    return PageText(page=number, text=text, label=name or f"Sheet {number}")


def _named_row(header: Sequence[str], cells: Sequence[str]) -> str:
    parts = []
    for index, cell in enumerate(cells):
        if not cell:
            continue
        name = header[index] if index < len(header) else ""
        parts.append(f"{name}: {cell}" if name else cell)
    return " | ".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_CELL_CHARS else text[: _MAX_CELL_CHARS - 1] + "…"
