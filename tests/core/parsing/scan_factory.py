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
