"""Small valid PDFs written by hand (pypdf cannot lay out text), and encrypted copies of them."""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter


def make_pdf(pages: Sequence[str], title: str | None = None, win_ansi: bool = False) -> bytes:
    """One page per string, each line in Helvetica; an empty string gives a page without text
    (it only paints a rectangle, like a scan with no text layer). `win_ansi` declares the
    font's encoding as WinAnsi, so every cp1252 character comes back as written."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]  # 2 is filled in below
    encoding = b" /Encoding /WinAnsiEncoding" if win_ansi else b""
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica%s >>" % encoding)
    kids = []
    for text in pages:
        stream = _content_stream(text)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_id
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    info_ref = b""
    if title is not None:
        objects.append(b"<< /Title (%s) /Producer (pdf_factory) >>" % _escape(title))
        info_ref = b" /Info %d 0 R" % len(objects)
    return _assemble(objects, info_ref)


def encrypt_pdf(data: bytes, user_password: str, owner_password: str, algorithm: str) -> bytes:
    """The same document encrypted, e.g. algorithm "AES-256" or "RC4-128"."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _content_stream(text: str) -> bytes:
    if not text:
        return b"0.5 g 72 72 468 648 re f"
    lines = [b"BT /F1 12 Tf 14 TL 72 720 Td"]
    for line in text.split("\n"):
        lines.append(b"(%s) Tj T*" % _escape(line))
    lines.append(b"ET")
    return b"\n".join(lines)


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")  # Helvetica with the standard encoding: keep tests to Latin text
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _assemble(objects: list[bytes], info_ref: bytes) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info_ref)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)
