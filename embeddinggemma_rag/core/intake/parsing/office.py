"""What DOCX and ODT share: zip archives of XML, read with guards against damage and bombs."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

from embeddinggemma_rag.core.errors import DocumentError

# No text part of a real document comes near this; a member that unpacks past it is a bomb.
MAX_MEMBER_BYTES = 200 * 1024 * 1024
# Password-protected Office files are not zip archives but OLE compound files with this magic.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_WHITESPACE = re.compile(r"\s+")
_MANIFEST = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"


@contextmanager
def open_archive(path: Path, kind: str) -> Iterator[zipfile.ZipFile]:
    """Open a zip-based document; every way it can be broken becomes a DocumentError."""
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except zipfile.BadZipFile as error:
        if _starts_with(path, _OLE_MAGIC):
            raise DocumentError(path, "password-protected (an encrypted Office file)") from None
        raise DocumentError(path, f"damaged or not a valid {kind} file ({error})") from None
    except (zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as error:
        # zlib/EOF: truncated data; NotImplementedError: an exotic compression method;
        # RuntimeError: an encrypted member; ValueError: inconsistent headers.
        raise DocumentError(path, f"damaged or not a valid {kind} file ({error})") from None


def refuse_encrypted_odf(archive: zipfile.ZipFile, path: Path, kind: str) -> None:
    """An OpenDocument file saved with a password is still a zip, but its manifest declares
    encryption-data (AES or Blowfish) for the parts, which then read as damaged XML."""
    data = read_member(archive, "META-INF/manifest.xml", path)
    if data is not None and b"encryption-data" in data:
        manifest = parse_xml(data, path, kind, "META-INF/manifest.xml")
        if manifest.find(f".//{_MANIFEST}encryption-data") is not None:
            raise DocumentError(path, "password-protected (an encrypted OpenDocument file)")


def read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes | None:
    """A member's bytes, None when the archive has no such member; refuses zip bombs."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_MEMBER_BYTES:
        raise DocumentError(path, _bomb_reason(name, info.file_size))
    with archive.open(info) as member:
        # zipfile stops at the declared size, but read at most one byte past the limit anyway.
        data = member.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise DocumentError(path, _bomb_reason(name, len(data)))
    return data


def parse_xml(data: bytes, path: Path, kind: str, name: str) -> ElementTree.Element:
    """Parse one XML member. expat (2.4+) refuses entity-expansion bombs and ElementTree
    never fetches external entities, so hostile XML fails here instead of growing."""
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise DocumentError(path, f"damaged or not a valid {kind} file ({name}: {error})") from None


def namespace(element: ElementTree.Element) -> str:
    """The namespace URI of an element's tag ("" when it has none)."""
    return element.tag[1:].partition("}")[0] if element.tag.startswith("{") else ""


def collapse_spaces(text: str) -> str:
    return _WHITESPACE.sub(" ", text)


def _bomb_reason(name: str, size: int) -> str:
    return (
        f"damaged or suspicious archive ({name} unpacks to {size // (1024 * 1024)} MB, "
        f"limit {MAX_MEMBER_BYTES // (1024 * 1024)} MB)"
    )


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(magic)) == magic
    except OSError:
        return False
