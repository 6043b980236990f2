"""Scans and spreadsheets end to end: found by their words, cited at the right page."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.intake.ingestion import IngestProgress
from embeddinggemma_rag.core.library.page_store import boxes_for_passage
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.core.intake.parsing.scan_factory import line_top, make_scanned_pdf

pytestmark = pytest.mark.slow


def make_engine(tmp_path: Path, **changes: object) -> Engine:
    settings = Settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        threads=1,
        chunk_tokens=128,
        chunk_overlap_tokens=16,
    )
    return build_engine(settings.replace(**changes))


def test_scanned_pdf_is_found_by_its_words_at_the_right_page(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    scan = folder / "scan.pdf"
    scan.write_bytes(
        make_scanned_pdf(
            [
                ["Maintenance log, spring."],
                ["Checked the pumps.", "Replacement bearings were ordered from Quillfeather Ltd."],
            ]
        )
    )
    (folder / "typed.pdf").write_bytes(make_pdf(["The typed report mentions no supplier."]))
    steps: list[str] = []

    def on_progress(progress: IngestProgress) -> None:
        if progress.current_step:
            steps.append(progress.current_step)

    engine = make_engine(tmp_path)
    try:
        report = engine.ingest([folder], on_progress=on_progress)
        assert report.by_status()["indexed"] == 2
        assert steps[:2] == ["reading page 1 of 2 by OCR", "reading page 2 of 2 by OCR"]

        hit = engine.search("replacement bearings ordered", k=1, mode="keyword")[0]
        assert Path(hit.path).name == "scan.pdf"
        assert hit.page == 2
        assert hit.ocr
        typed = engine.search("typed report supplier", k=1, mode="keyword")[0]
        assert Path(typed.path).name == "typed.pdf" and not typed.ocr

        status = engine.status()
        assert status.ocr_pages == {str(scan): 2}

        # The viewer's highlight: the boxes of the lines the passage covers, on its page
        # (offsets into the document's text, as the hit's are).
        boxes = engine.library.page_boxes(str(scan), 2)
        start = hit.char_start + hit.text.index("ordered")
        (box,) = boxes_for_passage(boxes, start, start + len("ordered"))
        assert box.top == pytest.approx(line_top(1), abs=0.02)
    finally:
        engine.close()


def test_ocr_setting_off_leaves_the_scan_without_text(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(make_scanned_pdf([["Replacement bearings ordered."]]))
    engine = make_engine(tmp_path, ocr=False)
    try:
        outcome = engine.ingest([folder]).outcomes[0]
        assert str(outcome.status) == "no_text"
        assert "OCR is turned off" in (outcome.reason or "")
    finally:
        engine.close()


def test_spreadsheet_citation_names_the_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    folder = tmp_path / "docs"
    folder.mkdir()
    workbook = Workbook()
    workbook.active.title = "Inventory"
    workbook.active.append(["Part", "Count"])
    workbook.active.append(["bearing", 12])
    suppliers = workbook.create_sheet("Suppliers")
    suppliers.append(["Supplier", "City"])
    suppliers.append(["Quillfeather Ltd.", "Leeds"])
    workbook.save(folder / "records.xlsx")
    engine = make_engine(tmp_path)
    try:
        engine.ingest([folder])
        hit = engine.search("Quillfeather Leeds", k=1, mode="keyword")[0]
        assert (hit.page, hit.page_label, hit.ocr) == (2, "Suppliers", False)
    finally:
        engine.close()
