"""Scans made in the tests: text rendered by Pillow into images and image-only PDFs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# DejaVu ships with Pillow's test-free installs on most Linux systems; Pillow's own scalable
# default font (Pillow >= 10.1) is the fallback, so the tests need no system font.
_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi
LEFT, TOP, LINE_HEIGHT = 100, 150, 60


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def render_page(lines: Sequence[str], size: tuple[int, int] = PAGE_SIZE) -> Image.Image:
    """A white greyscale page with the lines in black, one every LINE_HEIGHT pixels."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = _font(28)
    for number, line in enumerate(lines):
        draw.text((LEFT, TOP + number * LINE_HEIGHT), line, fill=0, font=font)
    return page


def line_top(number: int, size: tuple[int, int] = PAGE_SIZE) -> float:
    """Where line `number` (0-based) of `render_page` starts, as a fraction of the height."""
    return (TOP + number * LINE_HEIGHT) / size[1]


def make_scanned_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """An image-only PDF: each page is one picture of its lines, with no text layer at all."""
    images = [render_page(lines) for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return out.getvalue()


def write_image(path: Path, lines: Sequence[str]) -> Path:
    render_page(lines).save(path)
    return path


def with_hidden_text_layer(pdf: bytes, text: str) -> bytes:
    """The PDF with invisible text (render mode 3, as OCR'd scans carry) over its first page:
    what a reader extracts, while the page still shows only its image."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    page = writer.pages[0]
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    resources = page["/Resources"].get_object()
    resources[NameObject("/Font")] = DictionaryObject({NameObject("/F9"): writer._add_object(font)})
    raw = text.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    contents = page.get_contents()
    layer = DecodedStreamObject()
    layer.set_data(
        (contents.get_data() if contents is not None else b"")
        + b"\nBT 3 Tr /F9 12 Tf 72 720 Td ("
        + raw
        + b") Tj ET"
    )
    page.replace_contents(layer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
