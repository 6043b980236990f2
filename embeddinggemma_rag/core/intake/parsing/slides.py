"""Slide decks (.pptx, .odp): slide by slide, each slide a page, speaker notes included."""

from __future__ import annotations

import posixpath
import re
import zipfile
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

SUFFIXES = frozenset({".pptx", ".pptm", ".odp", ".otp"})

_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
_TITLE_PLACEHOLDERS = frozenset({"title", "ctrTitle"})
_DEFAULT_ODP_NAME = re.compile(r"^(page|slide)\s*\d+$", re.I)


def parse(path: Path) -> ParsedDocument:
    if path.suffix.lower() in (".odp", ".otp"):
        return _parse_odp(path)
    return _parse_pptx(path)


def _parse_pptx(path: Path) -> ParsedDocument:
    kind = "PPTX"
    with open_archive(path, kind) as archive:
        data = read_member(archive, "ppt/presentation.xml", path)
        if data is None:
            raise DocumentError(path, f"damaged or not a valid {kind} file (no presentation)")
        presentation = parse_xml(data, path, kind, "ppt/presentation.xml")
        targets = _relationships(archive, "ppt/presentation.xml", path)
        pages: list[PageText] = []
        slide_ids = presentation.iter(f"{_P}sldId")
        for number, slide_id in enumerate(slide_ids, start=1):
            part = targets.get(slide_id.get(f"{_R}id", ""))
            slide = read_member(archive, part, path) if part else None
            if slide is None:
                continue
            root = parse_xml(slide, path, kind, part or "slide")
            title, lines = _pptx_text(root)
            notes = _pptx_notes(archive, part or "", path)
            pages.append(PageText(page=number, text="\n".join(lines + notes), label=title))
    return ParsedDocument(title=None, pages=tuple(pages))


def _pptx_text(root: Element) -> tuple[str | None, list[str]]:
    """(the title placeholder's text, every paragraph of the slide in document order)."""
    title: str | None = None
    lines: list[str] = []
    for shape in root.iter(f"{_P}sp"):
        placeholder = shape.find(f"{_P}nvSpPr/{_P}nvPr/{_P}ph")
        paragraphs = [_pptx_paragraph(p) for p in shape.iter(f"{_A}p")]
        paragraphs = [p for p in paragraphs if p]
        if placeholder is not None and placeholder.get("type") in _TITLE_PLACEHOLDERS:
            title = title or " ".join(paragraphs) or None
        lines += paragraphs
    for frame in root.iter(f"{_P}graphicFrame"):  # tables: one line per row
        for row in frame.iter(f"{_A}tr"):
            cells = [" ".join(_pptx_paragraph(p) for p in cell.iter(f"{_A}p")) for cell in row]
            line = "\t".join(cell.strip() for cell in cells)
            if line.strip():
                lines.append(line)
    return title, lines


def _pptx_paragraph(paragraph: Element) -> str:
    pieces = []
    for element in paragraph.iter():
        if element.tag == f"{_A}t":
            pieces.append(element.text or "")
        elif element.tag == f"{_A}br":
            pieces.append("\n")
    return "".join(pieces).strip()


def _pptx_notes(archive: zipfile.ZipFile, slide_part: str, path: Path) -> list[str]:
    for target in _relationships(archive, slide_part, path).values():
        if "/notesSlides/" in f"/{target}":
            data = read_member(archive, target, path)
            if data is None:
                return []
            root = parse_xml(data, path, "PPTX", target)
            # The notes page repeats the slide's image and number: only its body counts.
            lines: list[str] = []
            for shape in root.iter(f"{_P}sp"):
                placeholder = shape.find(f"{_P}nvSpPr/{_P}nvPr/{_P}ph")
                if placeholder is not None and placeholder.get("type") == "body":
                    lines += [t for p in shape.iter(f"{_A}p") if (t := _pptx_paragraph(p))]
            return lines
    return []


def _relationships(archive: zipfile.ZipFile, part: str, path: Path) -> dict[str, str]:
    """Relationship id -> the target part's name in the archive, for one part."""
    folder, name = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", f"{name}.rels")
    data = read_member(archive, rels_name, path)
    if data is None:
        return {}
    targets = {}
    for rel in parse_xml(data, path, "PPTX", rels_name).iter(f"{_RELS}Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External" or not target:
            continue
        joined = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        targets[rel.get("Id", "")] = posixpath.normpath(joined)
    return targets


def _parse_odp(path: Path) -> ParsedDocument:
    kind = "ODP"
    with open_archive(path, kind) as archive:
        refuse_encrypted_odf(archive, path, kind)
        content = read_member(archive, "content.xml", path)
        if content is None:
            raise DocumentError(path, f"damaged or not a valid {kind} file (no content.xml)")
        root = parse_xml(content, path, kind, "content.xml")
    pages: list[PageText] = []
    for number, slide in enumerate(root.iter(f"{_DRAW}page"), start=1):
        lines = []
        for paragraph in slide.iter():
            if paragraph.tag in (f"{_TEXT}p", f"{_TEXT}h"):
                text = collapse_spaces("".join(paragraph.itertext())).strip()
                if text:
                    lines.append(text)
        name = slide.get(f"{_DRAW}name", "")
        label = None if not name or _DEFAULT_ODP_NAME.match(name) else name
        pages.append(PageText(page=number, text="\n".join(lines), label=label))
    return ParsedDocument(title=None, pages=tuple(pages))
