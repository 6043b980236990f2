"""Excel workbooks (.xlsx, .xlsm) through openpyxl: each sheet a page named by the sheet."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.office import MAX_MEMBER_BYTES, open_archive
from embeddinggemma_rag.core.intake.parsing.tables import rows_as_text, sheet_page

SUFFIXES = frozenset({".xlsx", ".xlsm"})
_KIND = "XLSX"


def parse(path: Path) -> ParsedDocument:
    # open_archive first: it turns a password-protected workbook (an OLE file, not a zip)
    # and a broken zip into clear reasons, and members that unpack past the limit are refused
    # before openpyxl inflates them.
    with open_archive(path, _KIND) as archive:
        _refuse_bombs(archive, path)
    from openpyxl import load_workbook  # imported here: only the parser process needs it

    with warnings.catch_warnings():
        # openpyxl warns about every extension it skips (data validation, slicers...).
        warnings.simplefilter("ignore")
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except (DocumentError, MemoryError):
            raise
        except Exception as error:  # openpyxl raises KeyError, ValueError... on broken parts
            detail = " ".join(str(error).split())[:120] or type(error).__name__
            raise DocumentError(path, f"damaged or not a valid {_KIND} file ({detail})") from None
        try:
            pages: list[PageText] = []
            for number, sheet in enumerate(workbook.worksheets, start=1):
                text = rows_as_text(sheet.iter_rows(values_only=True), path)
                pages.append(sheet_page(number, sheet.title, text))
            title = (workbook.properties.title or "").strip() or None
        finally:
            workbook.close()
    return ParsedDocument(title=title, pages=tuple(pages))


def _refuse_bombs(archive: zipfile.ZipFile, path: Path) -> None:
    for info in archive.infolist():
        if info.file_size > MAX_MEMBER_BYTES:
            raise DocumentError(
                path,
                f"damaged or suspicious archive ({info.filename} unpacks to "
                f"{info.file_size >> 20} MB, limit {MAX_MEMBER_BYTES >> 20} MB)",
            )
