"""How much text one document may hold, so a huge file fails clearly instead of stalling."""

from __future__ import annotations

from pathlib import Path

from embeddinggemma_rag.core.errors import DocumentError

# About 4 million tokens. A 5,000-page book holds some 15 million characters; embedding 16
# million takes about 1.5 hours on two cores (about 700 tokens/s, FACTS), so anything larger
# is a dump or a log rather than a document someone asks questions about. Read at call time,
# so tests may lower it.
MAX_TEXT_CHARS = 16_000_000
# A character takes at most 4 bytes in any encoding a text file uses (UTF-32 at worst), so a
# text file larger than this cannot fit the limit and is refused before it is read.
_BYTES_PER_CHAR = 4
_BOM_BYTES = 4


def check_text_file_size(path: Path, size: int) -> None:
    """Refuse a text file whose size alone shows it holds more than `MAX_TEXT_CHARS`."""
    limit = MAX_TEXT_CHARS * _BYTES_PER_CHAR + _BOM_BYTES
    if size > limit:
        raise DocumentError(
            path,
            f"too large for the text limit ({_size(size)}; text files are read up to "
            f"{_size(limit)})",
        )


def check_text_length(path: Path, characters: int) -> None:
    """Refuse a document whose extracted text is longer than `MAX_TEXT_CHARS`."""
    if characters > MAX_TEXT_CHARS:
        raise DocumentError(
            path,
            f"too large for the text limit ({_count(characters)} characters of text; the "
            f"limit is {_count(MAX_TEXT_CHARS)})",
        )


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _count(count: int) -> str:
    if count < 1_000_000:
        return f"{count:,}"
    return f"{count / 1e6:.1f}".removesuffix(".0") + " million"
