"""Plain text files: encodings, newlines, binary data and empty files."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument
from embeddinggemma_rag.core.intake.documents import PageText
from embeddinggemma_rag.core.intake.parsing import parse_file

TEXT = "Grüße aus Köln — “quoted” € 5\nzweite Zeile"


def parse_bytes(tmp_path: Path, data: bytes, name: str = "notes.txt") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    document = parse_file(path)
    assert len(document.pages) == 1
    assert document.pages[0].page is None
    return document.pages[0].text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(TEXT.encode("utf-8"), id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + TEXT.encode("utf-8"), id="utf-8-bom"),
        pytest.param(codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), id="utf-16-le"),
        pytest.param(codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), id="utf-16-be"),
        pytest.param(codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), id="utf-32-le"),
        pytest.param(codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"), id="utf-32-be"),
        pytest.param(TEXT.encode("cp1252"), id="cp1252"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes) -> None:
    assert parse_bytes(tmp_path, data) == TEXT


def test_bytes_cp1252_leaves_undefined_fall_back_to_latin_1(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252 and invalid UTF-8: only latin-1 takes it.
    assert parse_bytes(tmp_path, b"caf\xe9 \x81") == "café \x81"


def test_newlines_are_normalised(tmp_path: Path) -> None:
    assert parse_bytes(tmp_path, b"a\r\nb\rc\nd") == "a\nb\nc\nd"


def test_title_is_the_file_name_stem(tmp_path: Path) -> None:
    path = tmp_path / "meeting notes.md.txt"
    path.write_text("hello", encoding="utf-8")

    assert parse_file(path).title == "meeting notes.md"


def test_source_code_is_text(tmp_path: Path) -> None:
    assert parse_bytes(tmp_path, b"def f():\n    return 1\n", "tool.py") == (
        "def f():\n    return 1\n"
    )


def test_binary_data_named_txt_fails(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as raised:
        parse_bytes(tmp_path, b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 8)

    assert type(raised.value) is DocumentError
    assert raised.value.reason == "not a text file (binary data)"


def test_nul_bytes_after_the_sniffed_head_are_dropped(tmp_path: Path) -> None:
    data = b"a" * 9000 + b"\x00b"

    assert parse_bytes(tmp_path, data) == "a" * 9000 + "b"


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n"], ids=["empty", "blank"])
def test_empty_file_has_no_text(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(NoTextDocument) as raised:
        parse_bytes(tmp_path, data)

    assert raised.value.status == "no_text"
    assert raised.value.reason == ("empty file" if not data else "no extractable text")


def test_utf16_without_nul_sniffing_trouble(tmp_path: Path) -> None:
    # UTF-16 ASCII text is half NUL bytes: the BOM must win over binary detection.
    data = codecs.BOM_UTF16_LE + "plain ascii".encode("utf-16-le")

    assert parse_bytes(tmp_path, data) == "plain ascii"
    assert parse_file(tmp_path / "notes.txt").pages == (PageText(None, "plain ascii"),)
