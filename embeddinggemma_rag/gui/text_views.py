"""Showing untrusted text safely: plain text only, explicit formats, no resources, palette colours.

Document text and model output may contain HTML or Markdown. Nothing here parses markup:
text goes in with `QTextCursor.insertText`, links are char formats we set ourselves, and the
browser refuses every resource, so no image or stylesheet is ever fetched.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from embeddinggemma_rag.core.engine import query_tokens, token_spans
from embeddinggemma_rag.core.records import QueryToken
from embeddinggemma_rag.gui.widgets import pass_drops_to_window


def blend(base: QColor, over: QColor, amount: float) -> QColor:
    """`over` laid on `base` at `amount` (0..1): tints that follow a light or dark palette."""
    return QColor.fromRgbF(
        base.redF() + (over.redF() - base.redF()) * amount,
        base.greenF() + (over.greenF() - base.greenF()) * amount,
        base.blueF() + (over.blueF() - base.blueF()) * amount,
    )


def mark_format(palette: QPalette) -> QTextCharFormat:
    """How matched query words are marked: the palette's highlight, softened."""
    fmt = QTextCharFormat()
    fmt.setBackground(
        blend(
            palette.color(QPalette.ColorRole.Base),
            palette.color(QPalette.ColorRole.Highlight),
            0.35,
        )
    )
    fmt.setFontWeight(700)
    return fmt


def link_format(
    palette: QPalette, href: str, base: QTextCharFormat | None = None
) -> QTextCharFormat:
    fmt = QTextCharFormat(base) if base is not None else QTextCharFormat()
    fmt.setAnchor(True)
    fmt.setAnchorHref(href)
    fmt.setForeground(palette.color(QPalette.ColorRole.Link))
    fmt.setFontUnderline(True)
    return fmt


# Marking every "the" in a snippet hides the words that matter.
_UNMARKED_TEXT = (
    "the and for with from that this what which when where who how does did are was were "
    "have has had can could would should will not any all some more most about into"
)
_UNMARKED = frozenset(_UNMARKED_TEXT.split())


def terms_pattern(question: str) -> list[QueryToken] | None:
    """The query's keyword tokens worth marking (see `core.library.keyword_text.token_spans`): words
    folded as the keyword search folds them, Chinese and Thai pieces; None when none."""
    tokens = query_tokens(question)
    kept = [t for t in tokens if t.ngram or (len(t.text) > 2 and t.text not in _UNMARKED)]
    return kept or None


def marked_spans(text: str, pattern: list[QueryToken] | None) -> list[tuple[int, int]]:
    return token_spans(text, pattern) if pattern else []


def insert_marked(
    cursor: QTextCursor,
    text: str,
    pattern: list[QueryToken] | None,
    plain: QTextCharFormat,
    marked: QTextCharFormat,
) -> None:
    """Insert `text` as plain text, with the query's tokens in the `marked` format."""
    position = 0
    for start, end in marked_spans(text, pattern):
        cursor.insertText(text[position:start], plain)
        cursor.insertText(text[start:end], marked)
        position = end
    cursor.insertText(text[position:], plain)


_MARKDOWN_MARKS = [
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images: their text
    (re.compile(r"(?m)^\s{0,3}(#{1,6}|>+|[-*+]|\d+[.)])\s+"), ""),  # headings, quotes, items
    (re.compile(r"(\*\*|__|~~|`+)"), ""),  # bold, strike-through, code
    (re.compile(r"(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])"), ""),  # emphasis
    (re.compile(r"(?m)^\s*\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*$"), ""),  # table rules
    (re.compile(r"(?m)^[ \t]*\|[ \t]*|[ \t]*\|[ \t]*$"), ""),  # table row edges
    (re.compile(r"[ \t]*\|[ \t]*"), " · "),  # table cells
]


def without_markdown(text: str) -> str:
    """A passage's words without Markdown's markers (a snippet is read, not rendered)."""
    for pattern, replacement in _MARKDOWN_MARKS:
        text = pattern.sub(replacement, text)
    return text


def snippet(text: str, pattern: list[QueryToken] | None, width: int = 320) -> str:
    """One line of the passage around the first query word (or its start)."""
    flat = " ".join(without_markdown(text).split()).strip(" ·")
    if len(flat) <= width:
        return flat
    spans = marked_spans(flat, pattern)
    start = max(0, (spans[0][0] if spans else 0) - width // 3)
    if start:
        # Start at a word when one begins nearby; Chinese or Thai have no spaces to find.
        space = flat.rfind(" ", max(0, start - 40), start)
        start = space + 1 if space >= 0 else start
    cut = flat[start : start + width]
    return ("…" if start else "") + cut.rstrip() + "…"


class SafeTextBrowser(QTextBrowser):
    """A read-only text view whose links only raise `anchorClicked`; it loads nothing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setUndoRedoEnabled(False)
        pass_drops_to_window(self)

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        return None  # never fetch: no remote (or local) images, stylesheets or pages

    def setHtml(self, text: str) -> None:
        raise TypeError("SafeTextBrowser shows plain text only")

    def setSource(self, name: QUrl | str, type: Any = None) -> None:
        """Links are handled by the owner; navigating would replace the document."""
