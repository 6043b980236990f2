"""Word documents (.docx): the body, then notes, comments, headers and footers; titled."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree.ElementTree import Element

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.office import (
    collapse_spaces,
    namespace,
    open_archive,
    parse_xml,
    read_member,
)

SUFFIXES = frozenset({".docx", ".docm"})

_KIND = "DOCX"
_DC = "{http://purl.org/dc/elements/1.1/}"
# Text boxes come twice, as DrawingML (Choice) and as VML (Fallback): read the first only.
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_HEADING_STYLE = re.compile(r"^(title|heading ?\d)$", re.I)
# Read after the body: footnotes, endnotes and comments (each element once), then headers
# and footers, which Word repeats on every page but which are indexed once per document.
_NOTE_PARTS = (
    ("word/footnotes.xml", "footnote"),
    ("word/endnotes.xml", "endnote"),
    ("word/comments.xml", "comment"),
)
_HEADER_FOOTER_PART = re.compile(r"^word/(header|footer)\d*\.xml$")
# Word's own notes that only draw the line above the footnotes.
_SEPARATOR_NOTES = frozenset({"separator", "continuationSeparator", "continuationNotice"})


def parse(path: Path) -> ParsedDocument:
    with open_archive(path, _KIND) as archive:
        body = parse_xml(_main_part(archive, path), path, _KIND, "document")
        styles = _style_names(archive, path)
        title = _core_title(archive, path)
        extra = _notes_and_comments(archive, path) + _headers_and_footers(archive, path)
    w = "{" + namespace(body) + "}"  # transitional and strict OOXML differ only in namespaces
    paragraphs: list[tuple[str, str]] = []
    _walk(body, w, paragraphs)
    if title is None:
        title = next((text for style, text in paragraphs if _is_heading(style, styles)), None)
    text = "\n\n".join([text for _, text in paragraphs if text.strip()] + extra)
    return ParsedDocument(title=title, pages=(PageText(page=None, text=text),))


def _main_part(archive: zipfile.ZipFile, path: Path) -> bytes:
    data = read_member(archive, "word/document.xml", path)
    if data is None:  # the package's relationships name the part when it is elsewhere
        rels = read_member(archive, "_rels/.rels", path)
        if rels is not None:
            for rel in parse_xml(rels, path, _KIND, "_rels/.rels").iter(f"{_RELS}Relationship"):
                if rel.get("Type", "").endswith("/officeDocument"):
                    data = read_member(archive, rel.get("Target", "").lstrip("/"), path)
    if data is None:
        raise DocumentError(path, f"damaged or not a valid {_KIND} file (no document part)")
    return data


def _notes_and_comments(archive: zipfile.ZipFile, path: Path) -> list[str]:
    texts: list[str] = []
    for name, tag in _NOTE_PARTS:
        data = read_member(archive, name, path)
        if data is None:
            continue
        root = parse_xml(data, path, _KIND, name)
        w = "{" + namespace(root) + "}"
        for note in root.iter(f"{w}{tag}"):
            if note.get(f"{w}type") in _SEPARATOR_NOTES:
                continue
            paragraphs: list[tuple[str, str]] = []
            _walk(note, w, paragraphs)
            texts += [text for _, text in paragraphs if text.strip()]
    return texts


def _headers_and_footers(archive: zipfile.ZipFile, path: Path) -> list[str]:
    """Each distinct header and footer text once (sections often share the same one)."""
    texts: list[str] = []
    for name in sorted(n for n in archive.namelist() if _HEADER_FOOTER_PART.match(n)):
        data = read_member(archive, name, path)
        if data is None:
            continue
        root = parse_xml(data, path, _KIND, name)
        paragraphs: list[tuple[str, str]] = []
        _walk(root, "{" + namespace(root) + "}", paragraphs)
        text = "\n".join(text for _, text in paragraphs if text.strip())
        if text and text not in texts:
            texts.append(text)
    return texts


def _core_title(archive: zipfile.ZipFile, path: Path) -> str | None:
    data = read_member(archive, "docProps/core.xml", path)
    if data is None:
        return None
    element = parse_xml(data, path, _KIND, "docProps/core.xml").find(f"{_DC}title")
    title = collapse_spaces(element.text or "").strip() if element is not None else ""
    return title or None


def _style_names(archive: zipfile.ZipFile, path: Path) -> dict[str, str]:
    """Style id -> style name; ids are localised ("berschrift1"), names are not ("heading 1")."""
    data = read_member(archive, "word/styles.xml", path)
    if data is None:
        return {}
    root = parse_xml(data, path, _KIND, "word/styles.xml")
    w = "{" + namespace(root) + "}"
    names: dict[str, str] = {}
    for style in root.iter(f"{w}style"):
        name = style.find(f"{w}name")
        if name is not None:
            names[style.get(f"{w}styleId", "")] = name.get(f"{w}val", "")
    return names


def _is_heading(style: str, styles: dict[str, str]) -> bool:
    return bool(style) and bool(_HEADING_STYLE.match(styles.get(style, style)))


def _walk(element: Element, w: str, out: list[tuple[str, str]]) -> None:
    for child in element:
        if child.tag == f"{w}p":
            _paragraph(child, w, out)
        elif child.tag != _MC_FALLBACK:
            _walk(child, w, out)


def _paragraph(paragraph: Element, w: str, out: list[tuple[str, str]]) -> None:
    """Append (style id, text) for the paragraph, then for paragraphs nested in its text boxes."""
    pieces: list[str] = []
    nested: list[Element] = []
    inline = {f"{w}t": None, f"{w}tab": "\t", f"{w}br": "\n", f"{w}cr": "\n"}
    inline[f"{w}noBreakHyphen"] = "-"

    def collect(element: Element) -> None:
        for child in element:
            if child.tag in inline:
                pieces.append(inline[child.tag] or child.text or "")
            elif child.tag == f"{w}p":
                nested.append(child)
            elif child.tag not in (_MC_FALLBACK, f"{w}pPr"):
                # Deleted text (w:delText) and field codes (w:instrText) are not w:t: skipped.
                collect(child)

    collect(paragraph)
    style = paragraph.find(f"{w}pPr/{w}pStyle")
    out.append((style.get(f"{w}val", "") if style is not None else "", "".join(pieces)))
    for child in nested:
        _paragraph(child, w, out)
