"""OCR: scans and pictures of text read offline, page by page, with their line boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument, UnsupportedDocument
from embeddinggemma_rag.core.intake.parsing import ParserWorker, parse_file
from embeddinggemma_rag.core.library.page_store import boxes_for_passage
from tests.core.intake.parsing import sandbox_hooks
from tests.core.intake.parsing.scan_factory import line_top, make_scanned_pdf, write_image

pytestmark = pytest.mark.slow  # each OCR'd page costs one to three seconds

BEARINGS = "Replacement bearings were ordered from Quillfeather Ltd."
OVERHAUL = "The turbine overhaul ends in March."


def test_scanned_pdf_is_read_page_by_page_with_boxes(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf([["Cover of the maintenance log."], [BEARINGS, OVERHAUL]]))
    document = parse_file(scan)
    first, second = document.pages
    assert (first.page, second.page) == (1, 2)
    assert first.ocr and second.ocr
    assert "maintenance log" in first.text
    assert "Quillfeather" in second.text and "overhaul" in second.text
    assert "Quillfeather" not in first.text
    # One box per line, in reading order, where the line was drawn.
    assert len(second.boxes) == 2
    top_line, bottom_line = second.boxes
    assert top_line.top == pytest.approx(line_top(0), abs=0.02)
    assert bottom_line.top == pytest.approx(line_top(1), abs=0.02)
    assert second.text[top_line.char_start : top_line.char_end].startswith("Replacement")
    start = second.text.index("overhaul")
    assert boxes_for_passage(second.boxes, start, start + 8) == [bottom_line]


def test_picture_of_text_is_read(tmp_path: Path) -> None:
    document = parse_file(write_image(tmp_path / "whiteboard.png", [BEARINGS]))
    assert document.pages[0].ocr
    assert "Quillfeather" in document.text


def test_the_worker_names_each_page_it_reads(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf([["First page."], [BEARINGS]]))
    steps: list[str] = []
    with ParserWorker(timeout_seconds=60, ocr_page_seconds=60) as worker:
        document = worker.parse(scan, steps.append)
    assert steps == ["reading page 1 of 2 by OCR", "reading page 2 of 2 by OCR"]
    assert document.pages[1].ocr and "Quillfeather" in document.pages[1].text


def test_ocr_turned_off_leaves_scans_without_text(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf([[BEARINGS]]))
    with ParserWorker(timeout_seconds=60, ocr=False) as worker:
        with pytest.raises(NoTextDocument, match="OCR is turned off"):
            worker.parse(scan)
        with pytest.raises(UnsupportedDocument, match="OCR is turned off"):
            worker.parse(write_image(tmp_path / "photo.png", [BEARINGS]))


def test_blank_scan_stays_no_text_with_the_reason(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (800, 600), 255).save(blank)
    with pytest.raises(NoTextDocument, match="no text found by OCR"):
        parse_file(blank)
    scan = tmp_path / "blank.pdf"
    scan.write_bytes(make_scanned_pdf([[], []]))
    with pytest.raises(NoTextDocument, match="OCR found no text on 2 page"):
        parse_file(scan)


def test_huge_image_fails_with_a_reason_naming_the_file(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    Image.new("1", (20_000, 20_000), 1).save(huge)  # 50 MB in memory, a few KB on disk
    with pytest.raises(DocumentError, match="image too large") as caught:
        parse_file(huge)
    assert str(huge) in str(caught.value)
    assert "20,000 x 20,000" in caught.value.reason


def test_huge_jpeg_is_downscaled_as_it_is_decoded(tmp_path: Path) -> None:
    from tests.core.intake.parsing.scan_factory import render_page

    page = render_page([BEARINGS]).resize((9_000, 12_730))  # 115 million pixels
    photo = tmp_path / "photo.jpg"
    page.save(photo, quality=70)
    document = parse_file(photo)
    assert "Quillfeather" in document.text


def test_broken_image_costs_that_file_only(tmp_path: Path) -> None:
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    with ParserWorker(timeout_seconds=60) as worker:
        with pytest.raises(DocumentError, match="not a valid image"):
            worker.parse(broken)
        good = write_image(tmp_path / "good.png", [BEARINGS])
        assert "Quillfeather" in worker.parse(good).text


def test_each_page_gets_its_own_time_limit(tmp_path: Path) -> None:
    """Four pages of 0.6 s pass a 1 s file limit (each page has 1 s); a page of 5 s does not."""
    many = tmp_path / "book.slowpages"
    many.write_text("0.6\n0.6\n0.6\n0.6")
    stuck = tmp_path / "stuck.slowpages"
    stuck.write_text("0.1\n5")
    hooks = sandbox_hooks.__name__
    with ParserWorker(timeout_seconds=1, ocr_page_seconds=1, _setup_module=hooks) as worker:
        assert worker.parse(many).text == "all pages read"
        with pytest.raises(DocumentError, match="timed out after 1 s reading page 2 of 2 by OCR"):
            worker.parse(stuck)


def test_upside_down_scan_is_still_read(tmp_path: Path) -> None:
    from tests.core.intake.parsing.scan_factory import render_page

    upside_down = tmp_path / "upside-down.png"
    render_page([BEARINGS, OVERHAUL]).rotate(180).save(upside_down)
    text = parse_file(upside_down).text
    assert "bearings were ordered" in text and "overhaul" in text


def test_a_blank_page_among_read_ones_is_named_in_the_warning(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf([[], [BEARINGS]]))
    document = parse_file(scan)
    assert document.pages[0].text == "" and "bearings" in document.pages[1].text
    assert document.warning == "OCR found no text on page 1"


def test_a_garbled_text_layer_is_read_again_by_ocr(tmp_path: Path) -> None:
    from tests.core.intake.parsing.scan_factory import with_hidden_text_layer

    mojibake = "The cafÃ© rÃ©sumÃ© says itâ€™s open: Ã©tÃ© Ã  la plage, crÃ¨me brÃ»lÃ©e."
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(with_hidden_text_layer(make_scanned_pdf([[BEARINGS]]), mojibake))
    from pypdf import PdfReader

    assert "Ã©" in PdfReader(scan).pages[0].extract_text()  # what the text layer says
    (page,) = parse_file(scan).pages
    assert page.ocr and "bearings were ordered" in page.text and "Ã" not in page.text
