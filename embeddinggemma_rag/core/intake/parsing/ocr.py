"""OCR of page images with RapidOCR: PP-OCR models shipped in its wheel, run by onnxruntime."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, TextBox

# Pixels of one decoded image. A 20,000 x 20,000 scan is 400 million (1.2 GB as RGB): past the
# parser's memory cap. 60 million holds an A3 page at 600 dpi; larger ones are downscaled as
# they are decoded where the format allows it (JPEG), refused otherwise.
MAX_PIXELS = 60_000_000
# Longest side handed to the detector; RapidOCR itself shrinks anything larger to 2,000, so a
# bigger image would only cost memory. 2,000 px over an A4 page is about 170 dpi.
MAX_SIDE = 2000
# Lines RapidOCR is less sure of than this are left out: they are mostly specks and textures.
MIN_SCORE = 0.5
# How far a detected text region is grown before it is read. RapidOCR's 1.6 cuts into
# Latin lines: their spaces and sometimes whole lines were lost on rendered A4 pages, where
# 2.3 gave 99.3 % character accuracy against 80 % (README, OCR; benchmarks/ocr_accuracy.py).
DETECTION_UNCLIP_RATIO = 2.3
# RapidOCR's per-line angle classifier is off: on those pages it turned a line of small
# print upside down, which was then lost (94 % against 99.3 %), and with the wider regions
# it lost a long upside-down line. A page that reads with a mean confidence under this is
# read again turned by 180 degrees instead (`read_page`).
UPRIGHT_SCORE = 0.9

_log = logging.getLogger(__name__)


@dataclass
class _State:
    """The parser process's OCR configuration, set once by the sandbox at start-up."""

    enabled: bool = True
    threads: int = -1  # -1: onnxruntime's default (all cores)
    report: Callable[[str], None] = lambda _message: None
    engine: Any = None


_state = _State()


def configure(enabled: bool, threads: int, report: Callable[[str], None]) -> None:
    """Turn OCR on or off in this process; `report` receives "reading page N..." messages,
    and every message also restarts the parent's per-page time limit."""
    _state.enabled = enabled
    _state.threads = threads
    _state.report = report


def is_enabled() -> bool:
    return _state.enabled and importlib.util.find_spec("rapidocr_onnxruntime") is not None


def why_off() -> str:
    """Why OCR is not used, for a file's reason."""
    if not _state.enabled:
        return "OCR is turned off in the settings"
    # rapidocr-onnxruntime 1.4.4, the last release with its models inside, needs Python < 3.13.
    return "OCR is not installed (rapidocr-onnxruntime needs Python 3.12 or older)"


def announce(message: str) -> None:
    _state.report(message)


def read_page(image: Any, page: int | None) -> PageText:
    """The text of one page image (a PIL image), line by line, with each line's box.

    A page that reads poorly is read again turned upside down (a sheet fed the wrong way
    round), and the better reading is kept; its boxes still refer to the page as it is.
    """
    # RapidOCR follows OpenCV's channel order (BGR).
    bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
    lines, regions = _read_lines(bgr)
    # Text found but read with little confidence: maybe upside down. (Nothing found at all is
    # a blank or a picture, and turning it would not help.)
    if regions and _mean_score(lines) < UPRIGHT_SCORE:
        turned, _ = _read_lines(np.ascontiguousarray(bgr[::-1, ::-1]))
        if _weight(turned) > _weight(lines):
            lines = [
                (1 - right, 1 - bottom, 1 - left, 1 - top, text, score)
                for left, top, right, bottom, text, score in turned
            ]
    texts: list[str] = []
    boxes: list[TextBox] = []
    offset = 0
    for left, top, right, bottom, text, _ in lines:
        boxes.append(TextBox(offset, offset + len(text), left, top, right, bottom))
        texts.append(text)
        offset += len(text) + 1  # the newline that joins the lines
    return PageText(page=page, text="\n".join(texts), ocr=True, boxes=tuple(boxes))


_Line = tuple[float, float, float, float, str, float]  # left, top, right, bottom, text, score


def _read_lines(bgr: Any) -> tuple[list[_Line], int]:
    """(the lines read with confidence, how many text regions were detected)."""
    height, width = bgr.shape[:2]
    result, _ = _engine()(bgr)
    lines: list[_Line] = []
    for points, raw, score in result or ():
        text = " ".join(str(raw).split())
        if not text or float(score) < MIN_SCORE:
            continue
        xs = [float(x) for x, _ in points]
        ys = [float(y) for _, y in points]
        lines.append(
            (
                max(0.0, min(xs) / width),
                max(0.0, min(ys) / height),
                min(1.0, max(xs) / width),
                min(1.0, max(ys) / height),
                text,
                float(score),
            )
        )
    return lines, len(result or ())


def _weight(lines: list[_Line]) -> float:
    """Characters read, each counted by how sure the recogniser was."""
    return sum(len(text) * score for *_, text, score in lines)


def _mean_score(lines: list[_Line]) -> float:
    characters = sum(len(text) for *_, text, _ in lines)
    return _weight(lines) / characters if characters else 0.0


def fit_for_ocr(image: Any, path: Path) -> Any:
    """The image at most MAX_SIDE on its longest side, refusing what would not fit in memory.

    `image` is a PIL image that is opened but not yet decoded: JPEGs are decoded at a reduced
    scale right away (`draft`), so a huge photo never exists at full size in memory.
    """
    width, height = image.size
    if width * height > MAX_PIXELS and image.format == "JPEG":
        scale = max(width, height) / MAX_SIDE
        image.draft("RGB", (int(width / scale), int(height / scale)))
        width, height = image.size
    if width * height > MAX_PIXELS:
        raise DocumentError(
            path,
            f"image too large to read ({width:,} x {height:,} pixels, "
            f"limit {MAX_PIXELS // 1_000_000} million)",
        )
    image.load()
    if max(width, height) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


def _engine() -> Any:
    if _state.engine is None:
        # Imported here: cv2 and the models load only in a process that meets a scan.
        from rapidocr_onnxruntime import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        logging.getLogger("OrtInferSession").setLevel(logging.WARNING)
        threads = {"intra_op_num_threads": _state.threads} if _state.threads > 0 else {}
        # text_score 0: every detected region comes back, so `read_page` can tell a page
        # of unreadable (upside-down) lines from a blank one; MIN_SCORE filters them after.
        _state.engine = RapidOCR(
            det_unclip_ratio=DETECTION_UNCLIP_RATIO, use_cls=False, text_score=0.0, **threads
        )
    return _state.engine
