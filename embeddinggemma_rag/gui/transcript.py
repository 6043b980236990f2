"""The conversation as a text document: bubbles, linked citations, sources, streaming point."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from PySide6.QtGui import (
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextFrameFormat,
)

from embeddinggemma_rag.core.records import Answer
from embeddinggemma_rag.gui.answer_markdown import insert_markdown
from embeddinggemma_rag.gui.sources_view import SourceRef, insert_passages, insert_sources
from embeddinggemma_rag.gui.text_views import blend, link_format, terms_pattern

SEARCHING = "Searching your documents…"  # shown until the first token arrives


@dataclass
class ChatEntry:
    """One question and its answer as shown; `answer` is None while it streams."""

    question: str
    scope: str | None = None
    answer: Answer | None = None
    partial: str = ""
    note: str = ""  # "Stopped", "Failed: …"
    sources: list[SourceRef] = field(default_factory=list)
    passages: list[SourceRef] = field(default_factory=list)  # all given to the model
    show_passages: bool = False  # that list is collapsed until asked for


def insert_entry(
    cursor: QTextCursor, index: int, entry: ChatEntry, palette: QPalette
) -> tuple[QTextCursor | None, QTextCursor | None]:
    """Write one question and its answer as two bubbles. While the answer streams, returns
    the cursor its tokens go to, and the placeholder the first token replaces."""
    stream = placeholder = None
    plain, heading, dim = QTextCharFormat(), QTextCharFormat(), QTextCharFormat()
    heading.setFontWeight(700)
    dim.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
    cursor.insertFrame(bubble_format(palette, user=True))
    cursor.insertText("You", heading)
    if entry.scope:
        cursor.insertText(f"  ·  about {os.path.basename(entry.scope)}", dim)
    cursor.insertBlock()
    cursor.insertText(entry.question, plain)
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertFrame(bubble_format(palette, user=False))
    cursor.insertText("Answer", heading)
    cursor.insertBlock()
    pattern = terms_pattern(entry.question)
    if entry.answer is None:
        cursor.insertText(entry.partial, plain)
        if entry.note:
            cursor.insertBlock(QTextBlockFormat())
            cursor.insertText(entry.note, dim)
        else:  # still streaming: tokens go here, after a note that goes with the first
            if not entry.partial:
                start = cursor.position()
                cursor.insertText(SEARCHING, dim)
                placeholder = QTextCursor(cursor)
                placeholder.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
            stream = QTextCursor(cursor)
    else:
        insert_answer_text(cursor, index, entry.answer, plain, palette)
        if entry.note:
            cursor.insertBlock(QTextBlockFormat())
            cursor.insertText(entry.note, dim)
        insert_answer_actions(cursor, index, entry.answer, palette)
        href = f"source:{index}:"
        entry.sources = insert_sources(cursor, entry.answer, href, palette, pattern)
        entry.passages = insert_passages(
            cursor, entry.answer, index, entry.show_passages, palette, pattern
        )
    cursor.movePosition(QTextCursor.MoveOperation.End)
    return stream, placeholder


def insert_answer_text(
    cursor: QTextCursor,
    index: int,
    answer: Answer,
    plain: QTextCharFormat,
    palette: QPalette,
) -> None:
    """The answer's Markdown, rendered safely, its citation numbers linked to their sources
    (invented ones not)."""
    cited = {c.number for c in answer.citations}
    if answer.text.strip():
        insert_markdown(cursor, answer.text, index, cited, palette)
    cursor.setCharFormat(plain)


def answer_speed(answer: Answer) -> str:
    """'first word after 4.3 s · 12.5 words/s': what a person waits for, in words."""
    first = answer.seconds_to_first_token
    if first is None or not answer.text.strip():
        return ""
    words = len(answer.text.split())
    writing = answer.seconds - first
    rate = f" · {words / writing:.1f} words/s" if writing > 0.05 else ""
    return f"first word after {first:.1f} s{rate}"


def insert_answer_actions(
    cursor: QTextCursor, index: int, answer: Answer, palette: QPalette
) -> None:
    """Copy and Regenerate links under the answer, and how fast it came."""
    dim = QTextCharFormat()
    dim.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
    # A block of its own: after an answer ending in a list, a plain insertBlock() would make
    # the links one more bullet of it.
    cursor.insertBlock(QTextBlockFormat())
    cursor.insertText("Copy", link_format(palette, f"copy:{index}:0"))
    cursor.insertText("  ·  ", dim)
    cursor.insertText("Regenerate", link_format(palette, f"regenerate:{index}:0"))
    speed = answer_speed(answer)
    if speed:
        cursor.insertText(f"     {speed}", dim)


def bubble_format(palette: QPalette, user: bool) -> QTextFrameFormat:
    """A chat bubble tinted from the palette, so it follows a light or dark theme."""
    base = palette.color(QPalette.ColorRole.Base)
    tint = palette.color(QPalette.ColorRole.Highlight if user else QPalette.ColorRole.Text)
    fmt = QTextFrameFormat()
    fmt.setBackground(blend(base, tint, 0.16 if user else 0.05))
    fmt.setBorder(1)
    fmt.setBorderBrush(palette.color(QPalette.ColorRole.Mid))
    fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
    fmt.setPadding(10)
    fmt.setTopMargin(6)
    fmt.setBottomMargin(6)
    if user:
        fmt.setLeftMargin(80)  # the asker's bubbles sit to the right
    else:
        fmt.setRightMargin(40)
    return fmt
