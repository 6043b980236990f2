"""OpenDocument text (.odt): paragraphs and headings, then headers and footers; titled."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.office import (
    collapse_spaces,
    open_archive,
    parse_xml,
    read_member,
    refuse_encrypted_odf,
)

SUFFIXES = frozenset({".odt", ".ott"})

_KIND = "ODT"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
# Where styles.xml keeps the page headers and footers (first page, left pages...).
_HEADERS_FOOTERS = tuple(
    f"{_STYLE}{kind}{variant}"
    for kind in ("header", "footer")
    for variant in ("", "-left", "-first")
)
_DC = "{http://purl.org/dc/elements/1.1/}"
_PARAGRAPHS = (f"{_TEXT}p", f"{_TEXT}h")
# Comments, the record of deleted text, and footnote marks are not the document's text.
_SKIPPED = frozenset({f"{_OFFICE}annotation", f"{_TEXT}tracked-changes", f"{_TEXT}note-citation"})


def parse(path: Path) -> ParsedDocument:
    with open_archive(path, _KIND) as archive:
        refuse_encrypted_odf(archive, path, _KIND)
        content = read_member(archive, "content.xml", path)
        if content is None:
            raise DocumentError(path, f"damaged or not a valid {_KIND} file (no content.xml)")
        root = parse_xml(content, path, _KIND, "content.xml")
        meta = read_member(archive, "meta.xml", path)
        title = _meta_title(parse_xml(meta, path, _KIND, "meta.xml")) if meta else None
        styles = read_member(archive, "styles.xml", path)
        extra = _headers_and_footers(parse_xml(styles, path, _KIND, "styles.xml")) if styles else []
    paragraphs: list[tuple[bool, str]] = []
    body = root.find(f"{_OFFICE}body")
    _walk(root if body is None else body, paragraphs)
    if title is None:
        title = next(
            (text.strip() for heading, text in paragraphs if heading and text.strip()), None
        )
    text = "\n\n".join([text.strip(" ") for _, text in paragraphs if text.strip()] + extra)
    return ParsedDocument(title=title, pages=(PageText(page=None, text=text),))


def _headers_and_footers(styles: Element) -> list[str]:
    """Each distinct header and footer text once: the page styles repeat them on every page."""
    texts: list[str] = []
    for tag in _HEADERS_FOOTERS:
        for element in styles.iter(tag):
            paragraphs: list[tuple[bool, str]] = []
            _walk(element, paragraphs)
            text = "\n".join(t.strip(" ") for _, t in paragraphs if t.strip())
            if text and text not in texts:
                texts.append(text)
    return texts


def _meta_title(meta: Element) -> str | None:
    element = meta.find(f"{_OFFICE}meta/{_DC}title")
    title = collapse_spaces(element.text or "").strip() if element is not None else ""
    return title or None


def _walk(element: Element, out: list[tuple[bool, str]]) -> None:
    for child in element:
        if child.tag in _PARAGRAPHS:
            _paragraph(child, out)
        elif child.tag not in _SKIPPED:
            _walk(child, out)


def _paragraph(paragraph: Element, out: list[tuple[bool, str]]) -> None:
    """Append (is heading, text), then the paragraphs of its footnotes and frames."""
    pieces: list[str] = []
    nested: list[Element] = []

    def collect(element: Element) -> None:
        # ODF collapses runs of white space like HTML; text:s and text:tab write the real ones.
        pieces.append(collapse_spaces(element.text or ""))
        for child in element:
            if child.tag == f"{_TEXT}s":
                pieces.append(" " * _space_count(child.get(f"{_TEXT}c", "1")))
            elif child.tag == f"{_TEXT}tab":
                pieces.append("\t")
            elif child.tag == f"{_TEXT}line-break":
                pieces.append("\n")
            elif child.tag in _PARAGRAPHS:
                nested.append(child)
            elif child.tag not in _SKIPPED:
                collect(child)
            pieces.append(collapse_spaces(child.tail or ""))

    collect(paragraph)
    out.append((paragraph.tag == f"{_TEXT}h", "".join(pieces)))
    for child in nested:
        _paragraph(child, out)


def _space_count(value: str) -> int:
    try:
        return max(1, min(int(value), 100))  # a hostile count must not allocate gigabytes
    except ValueError:
        return 1
