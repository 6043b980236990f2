"""HTML pages: visible text with block structure, titled by <title> or the first <h1>."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.encoding import decode_text, read_text_bytes

SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml"})

# Contents never shown as text. Nothing is ever fetched: links and sources are only strings.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "math", "title"})
_PARAGRAPH = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
        "blockquote", "pre", "figure", "figcaption", "form", "fieldset", "address", "details",
        "summary", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "body",
    }
)  # fmt: skip
_LINE = frozenset({"br", "li", "tr", "dt", "dd", "caption", "option", "legend"})
_CELL = frozenset({"td", "th"})
_CHARSET = re.compile(
    rb"""(?:<meta[^>]+charset|<\?xml[^>]+encoding)\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I
)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.first_h1: str | None = None
        self._hidden_depth = 0
        self._in_title = False
        self._pre_depth = 0
        self._h1: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "body":
            # Whatever the head left open (an unclosed <title> or <noscript>) ends here.
            self._hidden_depth = 0
            self._in_title = False
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "h1" and self.first_h1 is None and not self._hidden_depth:
            self._h1 = []
        self._break(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag, opening=True)  # <br/>, <hr/>, and an empty <svg/> that opens nothing

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        elif tag == "h1" and self._h1 is not None:
            self.first_h1 = _SPACES.sub(" ", "".join(self._h1)).strip() or None
            self._h1 = None
        self._break(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._hidden_depth:
            return
        if self._h1 is not None:
            self._h1.append(data)
        self.parts.append(data if self._pre_depth else _SPACES.sub(" ", data))

    def _break(self, tag: str, opening: bool) -> None:
        """Blocks are separated on both sides; lines and cells only start with a separator, so
        "</li><li>" makes one line break and "</td><td>" one tab."""
        if self._hidden_depth:
            return
        if tag in _PARAGRAPH:
            self.parts.append("\n\n")
        elif opening and tag in _LINE:
            self.parts.append("\n")
        elif opening and tag in _CELL:
            self.parts.append("\t")


def parse(path: Path) -> ParsedDocument:
    data = read_text_bytes(path)
    body, title = html_text(decode_bytes(data, path))
    return ParsedDocument(title=title, pages=(PageText(page=None, text=body),))


def decode_bytes(data: bytes, path: Path) -> str:
    """An HTML or XHTML file's bytes as text, honouring a declared charset."""
    declared = _CHARSET.search(data[:4096])
    return decode_text(data, path, declared.group(1).decode("ascii") if declared else None)


def html_text(markup: str) -> tuple[str, str | None]:
    """(visible text with its block structure, title or first <h1>) of an HTML page."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    body = _tidy("".join(extractor.parts))
    return body, _SPACES.sub(" ", extractor.title).strip() or extractor.first_h1


def _tidy(text: str) -> str:
    """Lines without edge spaces and at most one blank line between paragraphs."""
    lines = [line.strip(" \t") for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
