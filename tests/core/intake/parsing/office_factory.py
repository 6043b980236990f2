"""Tiny DOCX and ODT files built with zipfile, holding just the parts the parsers read."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def docx_paragraph(text: str, style: str | None = None) -> str:
    """A w:p with one run; tabs and newlines in `text` become w:tab and w:br."""
    runs = []
    for index, line in enumerate(text.split("\n")):
        if index:
            runs.append("<w:br/>")
        for part_index, part in enumerate(line.split("\t")):
            if part_index:
                runs.append("<w:tab/>")
            runs.append(f'<w:t xml:space="preserve">{escape(part)}</w:t>')
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{properties}<w:r>{''.join(runs)}</w:r></w:p>"


def make_docx(body_xml: str, title: str | None = None) -> bytes:
    """A DOCX whose w:body holds `body_xml`; styles map "Heading1" and the German
    "berschrift1" to "heading 1", like Word's own localised style ids."""
    document = (
        f'<w:document xmlns:w="{W_NS}" xmlns:mc="{MC_NS}"><w:body>{body_xml}</w:body></w:document>'
    )
    styles = (
        f'<w:styles xmlns:w="{W_NS}">'
        '<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>'
        '<w:style w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>'
        '<w:style w:styleId="Title"><w:name w:val="Title"/></w:style>'
        "</w:styles>"
    )
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"/>',
        "word/document.xml": document,
        "word/styles.xml": styles,
    }
    if title is not None:
        members["docProps/core.xml"] = (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{escape(title)}</dc:title></cp:coreProperties>"
        )
    return make_zip(members)


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def make_odt(text_xml: str, title: str | None = None) -> bytes:
    """An ODT whose office:text holds `text_xml` (text:p, text:h... with the text: prefix)."""
    content = (
        f"<office:document-content {ODF_NS}><office:body><office:text>{text_xml}"
        "</office:text></office:body></office:document-content>"
    )
    members: dict[str, str | bytes] = {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": content,
    }
    if title is not None:
        members["meta.xml"] = (
            f"<office:document-meta {ODF_NS}><office:meta><dc:title>{escape(title)}</dc:title>"
            "</office:meta></office:document-meta>"
        )
    return make_zip(members)


def make_zip(members: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return out.getvalue()


def with_members(archive_bytes: bytes, members: dict[str, str | bytes]) -> bytes:
    """The same zip with `members` added (or replaced)."""
    kept: dict[str, str | bytes] = {}
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        for name in archive.namelist():
            kept[name] = archive.read(name)
    return make_zip({**kept, **members})


def docx_part(root: str, children: str) -> str:
    """A DOCX part such as <w:footnotes> or <w:hdr> holding `children`."""
    return f'<w:{root} xmlns:w="{W_NS}">{children}</w:{root}>'
