"""Turning the bytes of a text file into str: BOMs, UTF-8, legacy code pages, binary data."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.parsing import limits

# Longest BOMs first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# NUL bytes in the head of a file without a UTF-16/32 BOM mean binary data; text never has them.
BINARY_SNIFF_BYTES = 8192
# What browsers do too (WHATWG Encoding): these labels are read as windows-1252.
_LEGACY_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}
_NEWLINES = re.compile(r"\r\n?|\u2028|\u2029")


def read_text_bytes(path: Path) -> bytes:
    """The bytes of a text-like file, refused unread when it is too large for the text limit."""
    with path.open("rb") as file:
        limits.check_text_file_size(path, os.fstat(file.fileno()).st_size)
        return file.read()


def detect_bom(data: bytes) -> tuple[str, int] | None:
    """The encoding a byte-order mark announces and the mark's length, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


def decode_text(data: bytes, path: Path, declared: str | None = None) -> str:
    """Decode a text file: BOM, then UTF-8, `declared` (e.g. an HTML charset), cp1252, latin-1.

    Raises DocumentError for binary data. Newlines come back as "\\n", with NUL bytes removed.
    """
    bom = detect_bom(data)
    if bom is not None:
        encoding, length = bom
        text = data[length:].decode(encoding, errors="replace")
    else:
        if b"\x00" in data[:BINARY_SNIFF_BYTES]:
            raise DocumentError(path, "not a text file (binary data)")
        text = _decode_without_bom(data, declared)
    return normalise_newlines(text.replace("\x00", ""))


def normalise_newlines(text: str) -> str:
    return _NEWLINES.sub("\n", text)


def _decode_without_bom(data: bytes, declared: str | None) -> str:
    # Strict UTF-8 first even over a declaration: legacy text almost never decodes as UTF-8 by
    # chance, while pages that declare latin-1 but hold UTF-8 are common.
    candidates = ["utf-8"]
    if declared and _known_codec(declared):
        candidates.append(_LEGACY_ALIASES.get(declared.lower(), declared))
    # cp1252 before latin-1: it is what Windows wrote for Western text, and it maps the
    # 0x80-0x9F range to real characters (curly quotes, euro) instead of control codes.
    candidates.append("cp1252")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # every byte is a latin-1 character: this cannot fail


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
