"""`parse_file` and `is_supported`: dispatch by suffix and the failures every format shares."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from embeddinggemma_rag.core.errors import DocumentError, UnsupportedDocument
from embeddinggemma_rag.core.intake.documents import ParsedDocument
from embeddinggemma_rag.core.intake.parsing import (
    SUPPORTED_SUFFIXES,
    is_supported,
    parse_file,
    registry,
)


def test_supported_suffixes_cover_the_documented_types() -> None:
    expected = {".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".odt", ".py"}
    assert expected <= SUPPORTED_SUFFIXES
    assert all(suffix.startswith(".") and suffix == suffix.lower() for suffix in SUPPORTED_SUFFIXES)


@pytest.mark.parametrize(
    ("name", "supported"),
    [("a.PDF", True), ("b.Md", True), ("c.tar.gz", False), ("Makefile", False), ("d.exe", False)],
)
def test_is_supported_by_suffix_in_any_case(name: str, supported: bool) -> None:
    assert is_supported(Path(name)) is supported


def test_unsupported_suffix_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "movie.xyz"
    path.write_bytes(b"data")

    with pytest.raises(UnsupportedDocument) as raised:
        parse_file(path)

    assert raised.value.status == "skipped"
    assert raised.value.reason == "unsupported file type (.xyz)"


def test_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as raised:
        parse_file(tmp_path / "gone.txt")

    assert raised.value.status == "failed"
    assert raised.value.reason == "file not found"


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root and Windows ignore mode bits"
)
def test_unreadable_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("x")
    path.chmod(0)

    with pytest.raises(DocumentError) as raised:
        parse_file(path)

    assert raised.value.reason == "unreadable: permission denied"


def test_permission_error_from_a_parser_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Also runs as root, where chmod cannot make a file unreadable.
    def deny(path: Path) -> ParsedDocument:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setitem(registry._PARSERS, ".txt", deny)
    path = tmp_path / "a.txt"
    path.write_text("x")

    with pytest.raises(DocumentError, match="unreadable: permission denied"):
        parse_file(path)


def test_folder_named_like_a_document_fails(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()

    with pytest.raises(DocumentError, match="not a file"):
        parse_file(tmp_path / "folder.txt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")

    with pytest.raises(DocumentError, match="not a regular file"):
        parse_file(tmp_path / "pipe.txt")


def test_unexpected_parser_error_becomes_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(path: Path) -> ParsedDocument:
        raise KeyError("/Kids")

    monkeypatch.setitem(registry._PARSERS, ".txt", broken)
    path = tmp_path / "a.txt"
    path.write_text("x")

    with pytest.raises(DocumentError) as raised:
        parse_file(path)

    assert raised.value.reason == "could not be read (KeyError: '/Kids')"
    assert "parser failed" in caplog.text


def test_memory_error_in_a_parser_is_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def greedy(path: Path) -> ParsedDocument:
        raise MemoryError

    monkeypatch.setitem(registry._PARSERS, ".txt", greedy)
    path = tmp_path / "a.txt"
    path.write_text("x")

    with pytest.raises(DocumentError, match="ran out of memory while parsing"):
        parse_file(path)


def test_overlong_title_is_shortened(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# " + "word " * 100, encoding="utf-8")

    title = parse_file(path).title

    assert title is not None
    assert len(title) == 200
    assert title.endswith("…")
