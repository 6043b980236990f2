"""PDF pages without a usable text layer: rendered by PDFium one at a time and read by OCR."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embeddinggemma_rag.core.intake.documents import PageText
from embeddinggemma_rag.core.intake.parsing import ocr

# A scan is read best near 200 dpi; larger pages are rendered smaller so that the longest
# side stays at ocr.MAX_SIDE, which bounds memory whatever size the page claims.
RENDER_DPI = 200
_POINTS_PER_INCH = 72
_log = logging.getLogger(__name__)


def read_pages(path: Path, numbers: list[int], page_count: int) -> Iterator[PageText]:
    """OCR of the given 1-based pages, in order, one rendered page in memory at a time.

    A page PDFium cannot render or OCR cannot read comes back empty, so it stays without
    text instead of costing the rest of the file.
    """
    # Imported here: PDFium loads only in a parser process that meets a scan, never at start-up.
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    try:
        for number in numbers:
            ocr.announce(f"reading page {number} of {page_count} by OCR")
            try:
                yield _read_page(document, number)
            except MemoryError:
                raise
            except Exception as error:  # a damaged page costs that page only
                _log.info("page %d could not be read by OCR: %s", number, error)
                yield PageText(page=number, text="", ocr=True)
    finally:
        document.close()


def _read_page(document: Any, number: int) -> PageText:
    """`document` is a pypdfium2.PdfDocument."""
    page = document[number - 1]
    try:
        width, height = page.get_size()
        if width <= 0 or height <= 0:
            return PageText(page=number, text="", ocr=True)
        scale = min(RENDER_DPI / _POINTS_PER_INCH, ocr.MAX_SIDE / max(width, height))
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            image = bitmap.to_pil()
            return ocr.read_page(image, number)
        finally:
            bitmap.close()
    finally:
        page.close()
