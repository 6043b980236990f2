"""PDF parsing: pages, titles, encryption, damage and image-only files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdf_factory import encrypt_pdf, make_pdf

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument
from embeddinggemma_rag.core.intake.documents import PageText
from embeddinggemma_rag.core.intake.parsing import parse_file


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pages_keep_their_1_based_numbers_and_the_title(tmp_path: Path) -> None:
    pdf = write(
        tmp_path / "r.pdf", make_pdf(["First page\nline two", "", "Third"], "Annual Report")
    )

    document = parse_file(pdf)

    assert document.title == "Annual Report"
    assert document.pages == (
        PageText(1, "First page\nline two"),
        PageText(2, ""),
        PageText(3, "Third"),
    )
    assert document.text == "First page\nline two\f\fThird"


@pytest.mark.parametrize(
    ("metadata_title", "expected"),
    [
        (None, "my-report"),
        ("", "my-report"),
        ("untitled", "my-report"),
        ("Microsoft Word - Budget 2024.docx", "Budget 2024"),
        ("  Spaced   out  ", "Spaced out"),
    ],
)
def test_title_falls_back_to_the_file_name(
    tmp_path: Path, metadata_title: str | None, expected: str
) -> None:
    pdf = write(tmp_path / "my-report.pdf", make_pdf(["text"], metadata_title))

    assert parse_file(pdf).title == expected


def test_upper_case_suffix_is_read(tmp_path: Path) -> None:
    assert parse_file(write(tmp_path / "SCAN.PDF", make_pdf(["x"]))).pages[0].text == "x"


@pytest.mark.parametrize("algorithm", ["AES-256", "AES-128", "RC4-128", "RC4-40"])
def test_user_password_fails_as_password_protected(tmp_path: Path, algorithm: str) -> None:
    data = encrypt_pdf(make_pdf(["secret text"]), "user-pw", "owner-pw", algorithm)
    pdf = write(tmp_path / "locked.pdf", data)

    with pytest.raises(DocumentError) as raised:
        parse_file(pdf)

    assert type(raised.value) is DocumentError
    assert raised.value.status == "failed"
    assert raised.value.reason == "password-protected"


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_owner_password_only_is_indexed(tmp_path: Path, algorithm: str) -> None:
    data = encrypt_pdf(make_pdf(["open text"], "Owner Only"), "", "owner-pw", algorithm)

    document = parse_file(write(tmp_path / "owner.pdf", data))

    assert document.pages == (PageText(1, "open text"),)
    assert document.title == "Owner Only"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x00\x01garbage" * 100, id="garbage"),
        pytest.param(b"%PDF-1.4\n%%EOF\n", id="header-only"),
        pytest.param(make_pdf(["some text"] * 3)[:150], id="truncated"),
        pytest.param(b"<html>not a pdf</html>", id="html-named-pdf"),
    ],
)
def test_broken_pdf_fails_with_a_reason(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / "broken.pdf", data))

    assert type(raised.value) is DocumentError
    assert raised.value.reason.startswith("damaged or not a valid PDF")
    assert str(tmp_path / "broken.pdf") in str(raised.value)


def test_xref_damage_is_repaired_when_possible(tmp_path: Path) -> None:
    data = make_pdf(["still readable"]).replace(b"startxref\n", b"startxref\n9")

    assert parse_file(write(tmp_path / "bad-xref.pdf", data)).pages[0].text == "still readable"


def test_image_only_pdf_has_no_text(tmp_path: Path) -> None:
    with pytest.raises(NoTextDocument) as raised:
        parse_file(write(tmp_path / "scan.pdf", make_pdf(["", ""])))

    assert raised.value.status == "no_text"
    assert raised.value.reason == (
        "no extractable text (scanned or image-only PDF: OCR found no text on 2 page(s))"
    )
