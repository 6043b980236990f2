"""E-books (.epub): chapter by chapter in reading order, each chapter a page named by its title."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing import limits
from embeddinggemma_rag.core.intake.parsing.html import decode_bytes, html_text
from embeddinggemma_rag.core.intake.parsing.office import open_archive, parse_xml, read_member

SUFFIXES = frozenset({".epub"})

_KIND = "EPUB"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XENC = "{http://www.w3.org/2001/04/xmlenc#}"
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def parse(path: Path) -> ParsedDocument:
    with open_archive(path, _KIND) as archive:
        container = read_member(archive, "META-INF/container.xml", path)
        if container is None:
            raise DocumentError(path, f"damaged or not a valid {_KIND} file (no container.xml)")
        rootfile = parse_xml(container, path, _KIND, "container.xml").find(
            f".//{_CONTAINER}rootfile"
        )
        opf_name = unquote(rootfile.get("full-path", "")) if rootfile is not None else ""
        opf_data = read_member(archive, opf_name, path) if opf_name else None
        if opf_data is None:
            raise DocumentError(path, f"damaged or not a valid {_KIND} file (no package file)")
        package = parse_xml(opf_data, path, _KIND, opf_name)
        chapters = _spine(package, posixpath.dirname(opf_name))
        _refuse_drm(archive.namelist(), read_member(archive, "META-INF/encryption.xml", path), path)
        pages: list[PageText] = []
        characters = 0
        for name in chapters:
            data = read_member(archive, name, path)
            if data is None:
                continue
            text, heading = html_text(decode_bytes(data, path))
            if not text.strip():
                continue  # covers, images-only pages, empty separators
            characters += len(text)
            limits.check_text_length(path, characters)
            pages.append(PageText(page=len(pages) + 1, text=text, label=heading))
    title_element = package.find(f"{_OPF}metadata/{_DC}title")
    title = (title_element.text or "").strip() if title_element is not None else ""
    return ParsedDocument(title=title or None, pages=tuple(pages))


def _spine(package: Element, folder: str) -> list[str]:
    """The chapters' archive names in reading order (the OPF spine)."""
    items = {
        item.get("id", ""): item
        for item in package.iter(f"{_OPF}item")
        if item.get("media-type") in _HTML_TYPES
    }
    names = []
    for reference in package.iter(f"{_OPF}itemref"):
        item = items.get(reference.get("idref", ""))
        if item is not None:
            href = unquote(item.get("href", "").split("#", 1)[0])
            names.append(posixpath.normpath(posixpath.join(folder, href)))
    return names


def _refuse_drm(names: list[str], encryption: bytes | None, path: Path) -> None:
    """Publishers' DRM encrypts the chapters and lists them in META-INF/encryption.xml (font
    obfuscation lists only fonts there, which is harmless)."""
    if encryption is None:
        return
    root = parse_xml(encryption, path, _KIND, "META-INF/encryption.xml")
    for reference in root.iter(f"{_XENC}CipherReference"):
        uri = unquote(reference.get("URI", ""))
        if uri.lower().endswith((".xhtml", ".html", ".htm")) and uri.lstrip("/") in names:
            raise DocumentError(path, "password-protected (DRM-encrypted e-book)")
