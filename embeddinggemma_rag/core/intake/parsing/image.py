"""Pictures of text (.png, .jpg, .tif...) read by OCR; each frame of a multi-page TIFF is a page."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument, UnsupportedDocument
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing import ocr

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})

# Pillow's own guard warns at 89 million pixels and refuses at twice that; `ocr.fit_for_ocr`
# applies the app's limit instead, with a reason naming the file (and downscales JPEGs).
Image.MAX_IMAGE_PIXELS = None
_MAX_FRAMES = 2000  # a TIFF "book" longer than this is not a scan someone reads page by page


def parse(path: Path) -> ParsedDocument:
    if not ocr.is_enabled():
        raise UnsupportedDocument(path, f"an image: {ocr.why_off()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd but readable metadata
        try:
            with Image.open(path) as image:
                pages = _read_frames(image, path)
        except (DocumentError, MemoryError):
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            detail = " ".join(str(error).split())[:120] or type(error).__name__
            raise DocumentError(path, f"damaged or not a valid image ({detail})") from None
    document = ParsedDocument(title=None, pages=tuple(pages))
    if not document.has_text:
        raise NoTextDocument(path, "no text found by OCR in the image")
    return document


def _read_frames(image: Image.Image, path: Path) -> list[PageText]:
    frames = getattr(image, "n_frames", 1)
    if frames > _MAX_FRAMES:
        raise DocumentError(path, f"too many pages in one image ({frames}, limit {_MAX_FRAMES})")
    pages: list[PageText] = []
    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        ocr.announce(f"reading page {number} of {frames} by OCR")
        pages.append(ocr.read_page(ocr.fit_for_ocr(frame, path), number))
    return pages
