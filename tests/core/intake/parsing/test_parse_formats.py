"""Spreadsheets, CSV, slide decks and e-books: rows with headers, slides and chapters as pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from office_factory import ODF_NS, make_zip

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.parsing import ParserWorker, parse_file

P_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_csv_rows_carry_their_header(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "staff.csv", "Name;Role;Year\nAda;keeper;1887\n;;\nBo;;1890\n")
    document = parse_file(csv_file)
    assert document.text.splitlines() == [
        "Name | Role | Year",
        "Name: Ada | Role: keeper | Year: 1887",
        "Name: Bo | Year: 1890",
    ]


def test_xlsx_sheets_are_pages_named_by_the_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    first.title = "Inventory"
    first.append(["Part", "Count"])
    first.append(["bearing", 12])
    second = workbook.create_sheet("Suppliers")
    second.append(["Supplier", "City"])
    second.append(["Quillfeather Ltd.", "Leeds"])
    workbook.properties.title = "Plant records"
    workbook.save(tmp_path / "records.xlsx")
    document = parse_file(tmp_path / "records.xlsx")
    assert document.title == "Plant records"
    inventory, suppliers = document.pages
    assert (inventory.page, inventory.label) == (1, "Inventory")
    assert "Part: bearing | Count: 12" in inventory.text
    assert (suppliers.page, suppliers.label) == (2, "Suppliers")
    assert "Supplier: Quillfeather Ltd. | City: Leeds" in suppliers.text


def test_ods_tables_with_repeated_cells_and_rows(tmp_path: Path) -> None:
    content = (
        f"<office:document-content {ODF_NS}><office:body><office:spreadsheet>"
        '<table:table table:name="Tides">'
        "<table:table-row><table:table-cell><text:p>Port</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="2"/>'
        "<table:table-cell><text:p>Height</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Brest</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="2"/>'
        "<table:table-cell><text:p>7 m</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/>'
        "</table:table-row>"
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    data = make_zip(
        {"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": content}
    )
    (sheet,) = parse_file(write(tmp_path / "tides.ods", data)).pages
    assert sheet.label == "Tides" and sheet.page == 1
    assert sheet.text.splitlines() == ["Port | Height", "Port: Brest | Height: 7 m"]


def make_pptx(slides: list[tuple[str, str, str | None]]) -> bytes:
    """(title, body, speaker notes) per slide."""
    members: dict[str, str | bytes] = {}
    ids, rels = [], []
    for number, (title, body, notes) in enumerate(slides, start=1):
        ids.append(f'<p:sldId id="{255 + number}" r:id="rId{number}"/>')
        rels.append(
            f'<Relationship Id="rId{number}" Type="{R_NS}/slide" '
            f'Target="slides/slide{number}.xml"/>'
        )
        members[f"ppt/slides/slide{number}.xml"] = (
            f'<p:sld xmlns:p="{P_NS}" xmlns:a="{A_NS}"><p:cSld><p:spTree>'
            '<p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>'
            f"<p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:txBody></p:sp>"
            "<p:sp><p:nvSpPr><p:nvPr/></p:nvSpPr>"
            f"<p:txBody><a:p><a:r><a:t>{body}</a:t></a:r></a:p></p:txBody></p:sp>"
            "</p:spTree></p:cSld></p:sld>"
        )
        if notes:
            members[f"ppt/slides/_rels/slide{number}.xml.rels"] = (
                f'<Relationships xmlns="{RELS_NS}"><Relationship Id="rId9" '
                f'Type="{R_NS}/notesSlide" Target="../notesSlides/notesSlide{number}.xml"/>'
                "</Relationships>"
            )
            members[f"ppt/notesSlides/notesSlide{number}.xml"] = (
                f'<p:notes xmlns:p="{P_NS}" xmlns:a="{A_NS}"><p:cSld><p:spTree>'
                '<p:sp><p:nvSpPr><p:nvPr><p:ph type="body"/></p:nvPr></p:nvSpPr>'
                f"<p:txBody><a:p><a:r><a:t>{notes}</a:t></a:r></a:p></p:txBody></p:sp>"
                "</p:spTree></p:cSld></p:notes>"
            )
    members["ppt/presentation.xml"] = (
        f'<p:presentation xmlns:p="{P_NS}" xmlns:r="{R_NS}"><p:sldIdLst>{"".join(ids)}'
        "</p:sldIdLst></p:presentation>"
    )
    members["ppt/_rels/presentation.xml.rels"] = (
        f'<Relationships xmlns="{RELS_NS}">{"".join(rels)}</Relationships>'
    )
    return make_zip(members)


def test_pptx_slides_are_pages_with_their_notes(tmp_path: Path) -> None:
    data = make_pptx(
        [("Overview", "Three pumps run.", None), ("Budget", "Bearings cost 400.", "Ask Ada.")]
    )
    first, second = parse_file(write(tmp_path / "deck.pptx", data)).pages
    assert (first.page, first.label) == (1, "Overview")
    assert "Three pumps run." in first.text
    assert (second.page, second.label) == (2, "Budget")
    assert "Bearings cost 400." in second.text and "Ask Ada." in second.text
    assert "Ask Ada." not in first.text


def test_odp_slides_are_pages(tmp_path: Path) -> None:
    ns = ODF_NS + ' xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"'
    content = (
        f"<office:document-content {ns}><office:body><office:presentation>"
        '<draw:page draw:name="page1"><draw:frame><draw:text-box><text:p>Welcome aboard'
        "</text:p></draw:text-box></draw:frame></draw:page>"
        '<draw:page draw:name="Safety"><draw:frame><draw:text-box><text:p>Wear a helmet.'
        "</text:p></draw:text-box></draw:frame></draw:page>"
        "</office:presentation></office:body></office:document-content>"
    )
    data = make_zip(
        {"mimetype": "application/vnd.oasis.opendocument.presentation", "content.xml": content}
    )
    first, second = parse_file(write(tmp_path / "deck.odp", data)).pages
    assert (first.page, first.label, first.text) == (1, None, "Welcome aboard")
    assert (second.page, second.label, second.text) == (2, "Safety", "Wear a helmet.")


def make_epub(chapters: list[tuple[str, str]], title: str = "Harbour Tales") -> bytes:
    manifest = "".join(
        f'<item id="c{n}" href="text/ch{n}.xhtml" media-type="application/xhtml+xml"/>'
        for n in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(len(chapters)))
    members: dict[str, str | bytes] = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": (
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" '
            'media-type="application/oebps-package+xml"/></rootfiles></container>'
        ),
        "OEBPS/content.opf": (
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f"</metadata><manifest>{manifest}</manifest><spine>{spine}</spine></package>"
        ),
    }
    for n, (heading, body) in enumerate(chapters):
        members[f"OEBPS/text/ch{n}.xhtml"] = (
            '<html xmlns="http://www.w3.org/1999/xhtml"><head><title></title></head><body>'
            f"<h1>{heading}</h1><p>{body}</p></body></html>"
        )
    return make_zip(members)


def test_epub_chapters_in_reading_order(tmp_path: Path) -> None:
    data = make_epub([("The Storm", "The lighthouse held."), ("The Calm", "Boats returned.")])
    document = parse_file(write(tmp_path / "tales.epub", data))
    assert document.title == "Harbour Tales"
    first, second = document.pages
    assert (first.page, first.label) == (1, "The Storm")
    assert "The lighthouse held." in first.text
    assert (second.page, second.label) == (2, "The Calm")


@pytest.mark.parametrize("suffix", [".xlsx", ".ods", ".pptx", ".odp", ".epub"])
def test_broken_file_costs_that_file_only(tmp_path: Path, suffix: str) -> None:
    broken = write(tmp_path / f"broken{suffix}", b"PK\x03\x04 not really a zip")
    with ParserWorker(timeout_seconds=30) as worker:
        with pytest.raises(DocumentError, match="damaged or not a valid"):
            worker.parse(broken)
        assert "Ada" in worker.parse(write(tmp_path / "ok.csv", "Name\nAda\n")).text
