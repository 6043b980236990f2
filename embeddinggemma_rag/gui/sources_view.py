"""The sources under an answer: file, page, score and a snippet with the query's words marked."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtGui import QPalette, QTextBlockFormat, QTextCharFormat, QTextCursor

from embeddinggemma_rag.core.records import Answer, QueryToken, SearchHit
from embeddinggemma_rag.gui.text_views import insert_marked, link_format, mark_format, snippet

# The chunk id of a preview's passage of no text: no stored chunk has it.
NO_CHUNK = -1


@dataclass(frozen=True)
class SourceRef:
    """A passage to open, as search found it (where it is, what to highlight there), with
    its citation number in the answer: None for a passage the answer does not cite."""

    hit: SearchHit
    number: int | None = None

    @classmethod
    def preview(cls, path: str) -> SourceRef:
        """A document from the library shown from its start (a PDF at its first page): a
        passage of no text, so nothing is highlighted."""
        page = 1 if path.lower().endswith(".pdf") else None
        return cls(
            SearchHit(
                chunk_id=NO_CHUNK,
                path=path,
                title=os.path.basename(path),
                page=page,
                page_end=page,
                score=0.0,
                text="",
                char_start=0,
                char_end=0,
            )
        )


def sources_of(answer: Answer) -> list[SourceRef]:
    """The cited passages; the closest ones when the answer could cite none."""
    if answer.citations:
        return [SourceRef(c.hit, c.number) for c in answer.citations]
    return [SourceRef(h) for h in answer.passages]


def source_label(source: SourceRef) -> str:
    hit = source.hit
    number = f"[{source.number}] " if source.number is not None else ""
    page = f", page {hit.page}" if hit.page else ""
    page += f" ({hit.page_label})" if hit.page_label else ""
    page += " · OCR" if hit.ocr else ""
    return f"{number}{os.path.basename(hit.path)}{page}"


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
        insert_marked(cursor, snippet(source.hit.text, pattern), pattern, plain, marked)
        cursor.setBlockFormat(indented)
    return sources


def passage_ranks(answer: Answer) -> dict[tuple[str, int], int]:
    """Each passage's rank among those search found (1 is the closest)."""
    return {(h.path, h.char_start): rank for rank, h in enumerate(answer.passages, start=1)}


def match_label(ranks: dict[tuple[str, int], int], source: SourceRef) -> str:
    rank = ranks.get((source.hit.path, source.hit.char_start))
    return f"match {rank} of {len(ranks)}" if rank is not None else ""


def score_format(base: QTextCharFormat, source: SourceRef) -> QTextCharFormat:
    fmt = QTextCharFormat(base)
    fmt.setToolTip(
        "How closely this passage matched the question among the passages found: search "
        "ranks them by meaning (the embedding model) and by shared words, fused into one "
        f"order; 1 is the closest. Fused score {source.hit.score:.3f}."
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
    passages = [SourceRef(h) for h in answer.passages]
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
            cursor,
            " ".join(passage.hit.text.split()),
            pattern,
            QTextCharFormat(),
            mark_format(palette),
        )
        cursor.setBlockFormat(indented)
    return passages
