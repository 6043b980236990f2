"""DOCX and ODT: paragraphs, headings, titles, and broken or hostile archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from office_factory import (
    ODF_NS,
    docx_paragraph,
    docx_part,
    make_docx,
    make_odt,
    make_zip,
    with_members,
)

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument
from embeddinggemma_rag.core.intake.parsing import office, parse_file


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_docx_paragraphs_tabs_breaks_and_core_title(tmp_path: Path) -> None:
    body = (
        docx_paragraph("Chapter One", "Heading1")
        + docx_paragraph("a\tb\nc")
        + docx_paragraph("")
        + "<w:p><w:r><w:t>kept</w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r>"
        "</w:del><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>"
        + "<w:tbl><w:tr><w:tc>"
        + docx_paragraph("cell")
        + "</w:tc></w:tr></w:tbl>"
    )
    document = parse_file(write(tmp_path / "d.docx", make_docx(body, title="Core Title")))

    assert document.title == "Core Title"
    assert document.pages[0].page is None
    assert document.pages[0].text == "Chapter One\n\na\tb\nc\n\nkept\n\ncell"


@pytest.mark.parametrize("style", ["Heading1", "berschrift1", "Title"])
def test_docx_title_from_first_heading_styled_paragraph(tmp_path: Path, style: str) -> None:
    body = docx_paragraph("Plain first") + docx_paragraph("The Heading", style)

    assert parse_file(write(tmp_path / "d.docx", make_docx(body))).title == "The Heading"


def test_docx_without_title_or_heading_is_named_by_the_file(tmp_path: Path) -> None:
    assert parse_file(write(tmp_path / "memo.docx", make_docx(docx_paragraph("x")))).title == "memo"


def test_docx_text_box_is_read_once(tmp_path: Path) -> None:
    box = docx_paragraph("in the box")
    body = (
        "<w:p><w:r><w:t>outside</w:t></w:r><w:r><mc:AlternateContent>"
        f"<mc:Choice><w:txbxContent>{box}</w:txbxContent></mc:Choice>"
        f"<mc:Fallback><w:txbxContent>{box}</w:txbxContent></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )

    text = parse_file(write(tmp_path / "d.docx", make_docx(body))).pages[0].text

    assert text == "outside\n\nin the box"


def test_odt_paragraphs_spaces_and_meta_title(tmp_path: Path) -> None:
    content = (
        '<text:h text:outline-level="1">Intro</text:h>'
        '<text:p>one<text:s text:c="3"/>two<text:tab/>three<text:line-break/>four</text:p>'
        "<text:p>  <text:span>span</text:span>\n   text</text:p>"
        "<text:list><text:list-item><text:p>item</text:p></text:list-item></text:list>"
        "<text:p>note<text:note><text:note-citation>1</text:note-citation>"
        "<text:note-body><text:p>footnote</text:p></text:note-body></text:note> end</text:p>"
        "<text:p>x<office:annotation><text:p>a comment</text:p></office:annotation></text:p>"
    )
    document = parse_file(write(tmp_path / "o.odt", make_odt(content, title="Meta Title")))

    assert document.title == "Meta Title"
    assert document.pages[0].text == (
        "Intro\n\none   two\tthree\nfour\n\nspan text\n\nitem\n\nnote end\n\nfootnote\n\nx"
    )


def test_odt_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    content = "<text:p>lead</text:p><text:h>First Heading</text:h>"

    assert parse_file(write(tmp_path / "o.odt", make_odt(content))).title == "First Heading"


@pytest.mark.parametrize(("suffix", "kind"), [(".docx", "DOCX"), (".odt", "ODT")])
def test_not_a_zip_fails(tmp_path: Path, suffix: str, kind: str) -> None:
    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / f"bad{suffix}", b"this is not a zip archive"))

    assert raised.value.reason.startswith(f"damaged or not a valid {kind} file")


def test_truncated_docx_fails(tmp_path: Path) -> None:
    data = make_docx(docx_paragraph("text " * 2000))

    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / "cut.docx", data[: len(data) // 2]))

    assert raised.value.reason.startswith("damaged or not a valid DOCX file")


def test_docx_with_broken_xml_fails(tmp_path: Path) -> None:
    data = make_zip({"word/document.xml": "<w:document><unclosed>"})

    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / "x.docx", data))

    assert raised.value.reason.startswith("damaged or not a valid DOCX file (document:")


def test_encrypted_office_file_is_password_protected(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)

    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / "locked.docx", ole))

    assert raised.value.reason.startswith("password-protected")


def test_zip_bomb_member_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(office, "MAX_MEMBER_BYTES", 1000)
    path = tmp_path / "bomb.odt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("content.xml", b"<a>" + b" " * 5000 + b"</a>")

    with pytest.raises(DocumentError) as raised:
        parse_file(path)

    assert raised.value.reason.startswith("damaged or suspicious archive (content.xml unpacks")


def test_entity_expansion_bomb_fails_fast(tmp_path: Path) -> None:
    laughs = '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    content = laughs + "]><d>&i;</d>"  # 10**9 characters once expanded

    with pytest.raises(DocumentError) as raised:
        parse_file(write(tmp_path / "lol.odt", make_zip({"content.xml": content})))

    assert raised.value.reason.startswith("damaged or not a valid ODT file (content.xml:")
    assert "amplification" in raised.value.reason  # expat's own guard, not a syntax error


def test_docx_without_text_has_no_text(tmp_path: Path) -> None:
    with pytest.raises(NoTextDocument):
        parse_file(write(tmp_path / "blank.docx", make_docx(docx_paragraph(""))))


def test_docx_notes_comments_headers_and_footers_are_read_once(tmp_path: Path) -> None:
    body = docx_paragraph("The body mentions the lighthouse.")
    notes = (
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
        "</w:footnote>"
        '<w:footnote w:id="1">' + docx_paragraph("Footnote: the keeper was Ada.") + "</w:footnote>"
    )
    header = docx_part("hdr", docx_paragraph("Harbour Board — confidential"))
    data = with_members(
        make_docx(body),
        {
            "word/footnotes.xml": docx_part("footnotes", notes),
            "word/endnotes.xml": docx_part(
                "endnotes",
                '<w:endnote w:id="2">' + docx_paragraph("Endnote: 1887.") + "</w:endnote>",
            ),
            "word/comments.xml": docx_part(
                "comments",
                '<w:comment w:id="0">' + docx_paragraph("Check the date.") + "</w:comment>",
            ),
            # Two sections with the same header: its text is indexed once.
            "word/header1.xml": header,
            "word/header2.xml": header,
            "word/footer1.xml": docx_part("ftr", docx_paragraph("Page footer text")),
        },
    )
    text = parse_file(write(tmp_path / "notes.docx", data)).text
    for expected in (
        "lighthouse",
        "keeper was Ada",
        "Endnote: 1887",
        "Check the date",
        "Page footer",
    ):
        assert expected in text
    assert text.count("Harbour Board") == 1
    assert text.index("lighthouse") < text.index("keeper")


def test_odt_headers_and_footers_are_read_once(tmp_path: Path) -> None:
    style_ns = 'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"'
    styles = (
        f"<office:document-styles {ODF_NS} {style_ns}><office:master-styles>"
        '<style:master-page style:name="Standard">'
        "<style:header><text:p>Ministry of Tides</text:p></style:header>"
        "<style:footer><text:p>Printed in Brest</text:p></style:footer></style:master-page>"
        '<style:master-page style:name="Other">'
        "<style:header><text:p>Ministry of Tides</text:p></style:header></style:master-page>"
        "</office:master-styles></office:document-styles>"
    )
    data = with_members(make_odt("<text:p>Body about tides.</text:p>"), {"styles.xml": styles})
    text = parse_file(write(tmp_path / "tides.odt", data)).text
    assert "Body about tides." in text and "Printed in Brest" in text
    assert text.count("Ministry of Tides") == 1


def test_encrypted_odt_is_password_protected(tmp_path: Path) -> None:
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="AAAA">'
        '<manifest:algorithm manifest:algorithm-name="Blowfish CFB" '
        'manifest:initialisation-vector="AAAA"/></manifest:encryption-data>'
        "</manifest:file-entry></manifest:manifest>"
    )
    data = with_members(
        make_odt("<text:p>x</text:p>"),
        {"content.xml": b"\x8f\x12garbage-ciphertext", "META-INF/manifest.xml": manifest},
    )
    with pytest.raises(DocumentError, match="password-protected"):
        parse_file(write(tmp_path / "secret.odt", data))
