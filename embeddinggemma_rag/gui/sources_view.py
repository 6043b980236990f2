"""The sources under an answer: file, page, score and a snippet with the query's words marked."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtGui import QPalette, QTextBlockFormat, QTextCharFormat, QTextCursor

from embeddinggemma_rag.core.records import Answer, QueryToken
from embeddinggemma_rag.gui.text_views import insert_marked, link_format, mark_format, snippet


@dataclass(frozen=True)
class SourceRef:
    """A passage to open: where it is, and what to highlight there."""

    path: str
    page: int | None
    text: str
    char_start: int
    char_end: int
    score: float
    number: int | None  # the citation number in the answer, None for an uncited passage
    question: str = ""
    ocr: bool = False  # read by OCR from a page image: the sources list says so
    page_label: str | None = None  # a sheet's or chapter's name


def sources_of(answer: Answer) -> list[SourceRef]:
    """The cited passages; the closest ones when the answer could cite none."""
    if answer.citations:
        return [
            SourceRef(
                c.hit.path,
                c.hit.page,
                c.hit.text,
                c.hit.char_start,
                c.hit.char_end,
                c.hit.score,
                c.number,
                answer.question,
                c.hit.ocr,
                c.hit.page_label,
            )
            for c in answer.citations
        ]
    return [
        SourceRef(
            h.path,
            h.page,
            h.text,
            h.char_start,
            h.char_end,
            h.score,
            None,
            answer.question,
            h.ocr,
            h.page_label,
        )
        for h in answer.passages
    ]


def source_label(source: SourceRef) -> str:
    number = f"[{source.number}] " if source.number is not None else ""
    page = f", page {source.page}" if source.page else ""
    page += f" ({source.page_label})" if source.page_label else ""
    page += " · OCR" if source.ocr else ""
    return f"{number}{os.path.basename(source.path)}{page}"


def insert_sources(
    cursor: QTextCursor,
    answer: Answer,
    href_prefix: str,
    palette: QPalette,
    pattern: list[QueryToken] | None,
) -> list[SourceRef]:
    """Write the sources block at `cursor`; link i gets the href `{href_prefix}{i}`."""
    sources = sources_of(answer)
    if not sources:
        return sources
    heading = QTextCharFormat()
    heading.setFontWeight(700)
    if answer.citations:
        title = "Sources"
    elif answer.grounded:
        title = "Passages given to the model (the answer cites none)"
    else:
        title = "Closest passages"
    spaced = QTextBlockFormat()
    spaced.setTopMargin(8)
    cursor.insertBlock(spaced)
    cursor.insertText(title, heading)
    plain = QTextCharFormat()
    dim = QTextCharFormat()
    dim.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
    marked = mark_format(palette)
    indented = QTextBlockFormat()
    indented.setLeftMargin(18)
    indented.setBottomMargin(4)
    ranks = passage_ranks(answer)
    for index, source in enumerate(sources):
        cursor.insertBlock(QTextBlockFormat())
        cursor.insertText(source_label(source), link_format(palette, f"{href_prefix}{index}"))
        cursor.insertText(f"   {match_label(ranks, source)}", score_format(dim, source))
        cursor.insertBlock(indented)
        insert_marked(cursor, snippet(source.text, pattern), pattern, plain, marked)
        cursor.setBlockFormat(indented)
    return sources


def passage_ranks(answer: Answer) -> dict[tuple[str, int], int]:
    """Each passage's rank among those search found (1 is the closest)."""
    return {(h.path, h.char_start): rank for rank, h in enumerate(answer.passages, start=1)}


def match_label(ranks: dict[tuple[str, int], int], source: SourceRef) -> str:
    rank = ranks.get((source.path, source.char_start))
    return f"match {rank} of {len(ranks)}" if rank is not None else ""


def score_format(base: QTextCharFormat, source: SourceRef) -> QTextCharFormat:
    fmt = QTextCharFormat(base)
    fmt.setToolTip(
        "How closely this passage matched the question among the passages found: search "
        "ranks them by meaning (the embedding model) and by shared words, fused into one "
        f"order; 1 is the closest. Fused score {source.score:.3f}."
    )
    return fmt


def insert_passages(
    cursor: QTextCursor,
    answer: Answer,
    index: int,
    expanded: bool,
    palette: QPalette,
    pattern: list[QueryToken] | None,
) -> list[SourceRef]:
    """Every passage the model was given, behind a show/hide link (collapsed at first)."""
    passages = [
        SourceRef(h.path, h.page, h.text, h.char_start, h.char_end, h.score, None, answer.question)
        for h in answer.passages
    ]
    if not passages or not answer.citations:
        return passages  # without citations the sources block already lists them all
    spaced = QTextBlockFormat()
    spaced.setTopMargin(6)
    cursor.insertBlock(spaced)
    arrow = "▾ Hide" if expanded else "▸ Show"
    count = len(passages)
    label = f"{arrow} the {count} passages given to the model"
    if count == 1:
        label = f"{arrow} the passage given to the model"
    cursor.insertText(label, link_format(palette, f"passages:{index}:0"))
    if not expanded:
        return passages
    dim = QTextCharFormat()
    dim.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
    indented = QTextBlockFormat()
    indented.setLeftMargin(18)
    indented.setBottomMargin(4)
    for number, passage in enumerate(passages):
        cursor.insertBlock(QTextBlockFormat())
        label = f"{number + 1}. {source_label(passage)}"
        cursor.insertText(label, link_format(palette, f"passage:{index}:{number}"))
        cursor.insertBlock(indented)
        insert_marked(
            cursor, " ".join(passage.text.split()), pattern, QTextCharFormat(), mark_format(palette)
        )
        cursor.setBlockFormat(indented)
    return passages
