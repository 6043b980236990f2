"""An answer's Markdown, rendered safely: structure only, no HTML, no links out, no images.

Qt's Markdown reader (md4c) does the parsing, with raw HTML off, so a `<script>` or `<img>`
in an answer stays visible text. What Markdown itself can still carry is disarmed before the
text reaches the transcript: links that are not our citations lose their link, and images
become their address as text, so nothing is ever loaded or opened.
"""

from __future__ import annotations

import re

from PySide6.QtGui import (
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
)

from embeddinggemma_rag.core.records import CITATION
from embeddinggemma_rag.gui.text_views import link_format

_FEATURES = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)


def markdown_fragment(
    text: str, index: int, cited: set[int], palette: QPalette
) -> QTextDocumentFragment:
    document = QTextDocument()
    document.setMarkdown(text, _FEATURES)
    _disarm(document)
    _link_citations(document, index, cited, palette)
    return QTextDocumentFragment(document)


def _link_citations(
    document: QTextDocument, index: int, cited: set[int], palette: QPalette
) -> None:
    """Each given number of `[1]` or `[1, 2]` in the rendered text becomes a `cite:` link.

    On the rendered text, not in the Markdown before it: a citation inside a code block or
    an indented line showed as the link's Markdown ("\\[[1](cite:1:1)\\]"). Numbers the
    answer invented stay plain text."""
    block = document.begin()
    while block.isValid():
        start = block.position()
        for match in CITATION.finditer(block.text()):
            for number in re.finditer(r"\d+", match.group(1)):
                if int(number.group()) not in cited:
                    continue
                cursor = QTextCursor(document)
                cursor.setPosition(start + match.start(1) + number.start())
                cursor.setPosition(
                    start + match.start(1) + number.end(), QTextCursor.MoveMode.KeepAnchor
                )
                href = f"cite:{index}:{number.group()}"
                cursor.setCharFormat(link_format(palette, href, cursor.charFormat()))
        block = block.next()


def _disarm(document: QTextDocument) -> None:
    """Unlink every link the answer wrote (a `cite:` one too: only `_link_citations` makes
    those), and turn images into their address as text."""
    changes: list[tuple[int, int, QTextCharFormat | str]] = []
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            start, end = fragment.position(), fragment.position() + fragment.length()
            if fmt.isImageFormat():
                changes.append((start, end, f"[image: {fmt.toImageFormat().name()}]"))
            elif fmt.isAnchor():
                plain = QTextCharFormat(fmt)
                plain.setAnchor(False)
                plain.setAnchorHref("")
                plain.setFontUnderline(False)
                plain.clearForeground()
                changes.append((start, end, plain))
            it += 1
        block = block.next()
    for start, end, change in reversed(changes):  # from the end: earlier positions hold
        cursor = QTextCursor(document)
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        if isinstance(change, str):
            cursor.insertText(change, QTextCharFormat())
        else:
            cursor.setCharFormat(change)


def insert_markdown(
    cursor: QTextCursor, text: str, index: int, cited: set[int], palette: QPalette
) -> None:
    cursor.insertFragment(markdown_fragment(text, index, cited, palette))
