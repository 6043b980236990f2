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


def link_citations(text: str, index: int, cited: set[int]) -> str:
    """`[1, 2]` becomes `\\[[1](cite:i:1), [2](cite:i:2)\\]` for the numbers that were given."""

    def replace(match: re.Match[str]) -> str:
        parts = re.split(r"(\s*[,;]\s*)", match.group(1))
        linked = [
            f"[{p}](cite:{index}:{p})" if p.isdigit() and int(p) in cited else p for p in parts
        ]
        return "\\[" + "".join(linked) + "\\]"

    return CITATION.sub(replace, text)


def markdown_fragment(
    text: str, index: int, cited: set[int], palette: QPalette
) -> QTextDocumentFragment:
    document = QTextDocument()
    document.setMarkdown(link_citations(text, index, cited), _FEATURES)
    _disarm(document, palette)
    return QTextDocumentFragment(document)


def _disarm(document: QTextDocument, palette: QPalette) -> None:
    """Unlink every link but citations, and turn images into their address as text."""
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
                href = fmt.anchorHref()
                if href.startswith("cite:"):
                    changes.append((start, end, link_format(palette, href, fmt)))
                else:
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
