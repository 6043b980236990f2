"""What the library keeps per page beside the chunks: read by OCR or not, line boxes, labels."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from embeddinggemma_rag.core.intake.documents import PAGE_SEPARATOR, PageText, TextBox

# Only pages with something to say get a row (OCR'd pages, named sheets): a text PDF adds none.
# Created with IF NOT EXISTS on every open, so a library from before this table gains it.
SCHEMA = """
CREATE TABLE IF NOT EXISTS pages(
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page INTEGER NOT NULL, label TEXT, ocr INTEGER NOT NULL DEFAULT 0, boxes TEXT,
    PRIMARY KEY(document_id, page));
"""
_BATCH = 500  # ids per `IN (...)`


@dataclass(frozen=True)
class PageNote:
    """What a citation shows about its pages: read by OCR, and the first page's label."""

    ocr: bool
    label: str | None


def write_pages(db: sqlite3.Connection, document_id: int, pages: Sequence[PageText]) -> None:
    """Replace a document's page rows (inside the caller's transaction). `pages` are all the
    document's pages: boxes are stored with offsets into the whole document's text (pages
    joined by PAGE_SEPARATOR), the offsets its chunks have, so a citation finds its lines."""
    db.execute("DELETE FROM pages WHERE document_id = ?", (document_id,))
    rows = []
    offset = 0
    for page in pages:
        if page.page is not None and (page.ocr or page.label):
            boxes = _boxes_json(page.boxes, offset)
            rows.append((document_id, page.page, page.label, int(page.ocr), boxes))
        offset += len(page.text) + len(PAGE_SEPARATOR)
    sql = "INSERT OR REPLACE INTO pages(document_id, page, label, ocr, boxes) VALUES (?,?,?,?,?)"
    db.executemany(sql, rows)


def page_notes(db: sqlite3.Connection, chunk_ids: Iterable[int]) -> dict[int, PageNote]:
    """Chunk id -> PageNote, for the chunks whose pages have a row."""
    wanted = [int(i) for i in chunk_ids]
    notes: dict[int, PageNote] = {}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        sql = (
            "SELECT c.id, max(p.ocr), "
            "max(CASE WHEN p.page = c.page_start THEN p.label END) "
            "FROM chunks c JOIN pages p ON p.document_id = c.document_id "
            "AND p.page BETWEEN c.page_start AND c.page_end "
            f"WHERE c.id IN ({','.join('?' * len(batch))}) GROUP BY c.id"
        )
        for chunk_id, ocr, label in db.execute(sql, batch):
            notes[int(chunk_id)] = PageNote(ocr=bool(ocr), label=label)
    return notes


def ocr_page_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Document path -> how many of its pages were read by OCR (documents with any)."""
    sql = (
        "SELECT d.path, count(*) FROM pages p JOIN documents d ON d.id = p.document_id "
        "WHERE p.ocr GROUP BY d.path"
    )
    return {str(path): int(count) for path, count in db.execute(sql)}


def page_boxes(db: sqlite3.Connection, path: str, page: int) -> list[TextBox]:
    """The OCR line boxes of one page of a document ([] when it was not read by OCR), with
    offsets into the document's text, as a chunk's `char_start` and `char_end` are."""
    sql = (
        "SELECT p.boxes FROM pages p JOIN documents d ON d.id = p.document_id "
        "WHERE d.path = ? AND p.page = ?"
    )
    row = db.execute(sql, (path, page)).fetchone()
    if row is None or not row[0]:
        return []
    return [TextBox(*values) for values in json.loads(row[0])]


def boxes_for_passage(boxes: Sequence[TextBox], start: int, end: int) -> list[TextBox]:
    """The boxes of the lines that a passage (character offsets in its page) touches."""
    return [box for box in boxes if box.char_start < end and box.char_end > start]


def _boxes_json(boxes: Sequence[TextBox], offset: int) -> str | None:
    if not boxes:
        return None
    # Four decimals place a box within a tenth of a pixel on a 2,000-pixel page.
    rows = [
        [
            b.char_start + offset,
            b.char_end + offset,
            *(round(v, 4) for v in (b.left, b.top, b.right, b.bottom)),
        ]
        for b in boxes
    ]
    return json.dumps(rows, separators=(",", ":"))
