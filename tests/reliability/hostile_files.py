"""Hostile files made by the test suite: broken, looping, exploding, locked and odd PDFs and texts.

Every builder returns bytes (or writes a path) deterministically, so a failure reproduces.
"""

from __future__ import annotations

import codecs
import random
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from tests.core.intake.parsing.pdf_factory import encrypt_pdf, make_pdf

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _objects(objects: Sequence[bytes]) -> tuple[bytearray, list[int]]:
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    return out, offsets


def _xref(offsets: Sequence[int]) -> bytes:
    table = b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    return table + b"".join(b"%010d 00000 n \n" % offset for offset in offsets)


def pdf_of_objects(objects: Sequence[bytes], info: int | None = None) -> bytes:
    """A PDF whose object 1 is the catalog; objects are numbered from 1 in order; `info` is
    the number of the document information dictionary, if any."""
    out, offsets = _objects(objects)
    xref_at = len(out)
    out += _xref(offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info_ref)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _one_page(contents: bytes, resources: bytes = b"/Font << /F1 3 0 R >>") -> list[bytes]:
    """Catalog, pages, font, page: objects 1 to 4; the page's content is object 5."""
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        _FONT,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << %s >> "
        b"/Contents 5 0 R >>" % resources,
        contents,
    ]


def truncated_pdf() -> bytes:
    data = make_pdf([f"Truncated page {n} text." for n in range(1, 6)], "Truncated")
    return data[: len(data) // 3]


def garbage_pdf() -> bytes:
    return random.Random(1).randbytes(64 * 1024)


def garbage_after_header_pdf() -> bytes:
    return b"%PDF-1.7\n" + random.Random(2).randbytes(64 * 1024)


def xref_loop_pdf(self_loop: bool = False) -> bytes:
    """Two cross-reference sections whose trailers' /Prev point at each other (or one at
    itself): a reader that follows /Prev without remembering where it was never stops."""
    out, offsets = _objects(_one_page(_stream(b"BT /F1 12 Tf 72 720 Td (xref loop) Tj ET")))
    size = len(offsets) + 1

    def section(prev: int) -> bytes:  # /Prev has a fixed width: the length never changes
        return _xref(offsets) + b"trailer\n<< /Size %d /Root 1 0 R /Prev %010d >>\n" % (size, prev)

    first = len(out)
    second = first + len(section(0))
    out += section(first if self_loop else second)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %010d >>\n" % (size, first)
    out += b"startxref\n%d\n%%%%EOF\n" % (first if self_loop else second)
    return bytes(out)


def deflate_zeros(total_bytes: int, segment_bytes: int = 16 << 20) -> bytes:
    """A zlib stream that inflates to `total_bytes` zero bytes, built without compressing them.

    Each segment ends with a full flush, which resets the compressor, so every segment
    compresses to the same bytes: one is computed and repeated (2 GB cost 2 MB in 0.1 s).
    """
    if total_bytes % segment_bytes:
        raise ValueError("total_bytes must be a multiple of segment_bytes")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(segment_bytes)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(segment_bytes)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == segment, "a full flush did not reset the compressor"
    end = compressor.flush(zlib.Z_FINISH)
    adler = (total_bytes % 65521) << 16 | 1  # Adler-32 of n zero bytes: a = 1, b = n
    body = segment * (total_bytes // segment_bytes)
    return b"\x78\xda" + body + end + struct.pack(">I", adler)


def bomb_pdf(inflated_bytes: int = 2 << 30, pages: int = 1) -> bytes:
    """A page content stream (FlateDecode) that inflates to `inflated_bytes`, shared by
    `pages` pages: a reader without an output limit needs that much memory, per page."""
    stream = _stream(deflate_zeros(inflated_bytes), b" /Filter /FlateDecode")
    kids = b" ".join(b"%d 0 R" % (5 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        _FONT,
        stream,
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    ] * pages
    return pdf_of_objects(objects)


def double_bomb_pdf() -> bytes:
    """Flate inside Flate: 2 GB of zeros in a few kilobytes."""
    inner = deflate_zeros(2 << 30)
    outer = zlib.compress(inner, 9)
    stream = _stream(outer, b" /Filter [/FlateDecode /FlateDecode]")
    return pdf_of_objects(_one_page(stream))


def text_bomb_pdf(inflated_mb: int = 70) -> bytes:
    """A content stream that inflates to tens of megabytes of real text operators."""
    line = b"(" + b"word " * 40 + b") Tj T*\n"
    body = b"BT /F1 12 Tf 14 TL 72 720 Td\n" + line * (inflated_mb * 1024 * 1024 // len(line))
    stream = _stream(zlib.compress(body + b"ET", 9), b" /Filter /FlateDecode")
    return pdf_of_objects(_one_page(stream))


def deep_array_pdf(depth: int = 100_000) -> bytes:
    """An array nested `depth` levels deep in the catalog: recursive readers overflow."""
    deep = b"[" * depth + b"]" * depth
    objects = _one_page(_stream(b"BT /F1 12 Tf 72 720 Td (deep) Tj ET"))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /Deep %s >>" % deep
    return pdf_of_objects(objects)


def deep_dictionary_pdf(depth: int = 100_000) -> bytes:
    deep = b"<< /A " * depth + b"1" + b" >>" * depth
    objects = _one_page(_stream(b"BT /F1 12 Tf 72 720 Td (deep) Tj ET"))
    objects[3] = objects[3].replace(b"/Contents", b"/Deep %s /Contents" % deep)
    return pdf_of_objects(objects)


def page_tree_loop_pdf() -> bytes:
    """A /Pages node that lists itself among its kids."""
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 4 0 R] /Count 2 >>",
            _FONT,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
            _stream(b"BT /F1 12 Tf 72 720 Td (tree loop) Tj ET"),
        ]
    )


def form_loop_pdf() -> bytes:
    """A form XObject that draws itself: text extraction that follows `Do` recurses forever."""
    form = _stream(
        b"BT /F1 12 Tf 72 720 Td (form loop) Tj ET /X1 Do",
        b" /Type /XObject /Subtype /Form /BBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> /XObject << /X1 6 0 R >> >>",
    )
    objects = _one_page(_stream(b"/X1 Do"), b"/Font << /F1 3 0 R >> /XObject << /X1 6 0 R >>")
    return pdf_of_objects([*objects, form])


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages that only paint an image (a grey 64x64 picture), as a scanner without OCR writes."""
    pixels = zlib.compress(bytes(range(64)) * 64)
    image = _stream(
        pixels,
        b" /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode",
    )
    kids = b" ".join(b"%d 0 R" % (5 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        image,
        _stream(b"q 540 0 0 720 36 36 cm /Im1 Do Q"),
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << /Im1 3 0 R >> >> /Contents 4 0 R >>"
    ] * pages
    return pdf_of_objects(objects)


def titled_pdf(title: str, text: str) -> bytes:
    """One page of `text`, with any Unicode `title` in its metadata (a UTF-16 string)."""
    objects = _one_page(_stream(b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("ascii")))
    encoded = (codecs.BOM_UTF16_BE + title.encode("utf-16-be")).hex().upper().encode()
    objects.append(b"<< /Title <%s> >>" % encoded)
    return pdf_of_objects(objects, info=len(objects))


def locked_pdf(algorithm: str, user_password: str = "user-pw") -> bytes:
    """Encrypted; an empty `user_password` gives an owner-password-only file (opens freely)."""
    text = f"Locked with {algorithm}: the okapi ledger"
    return encrypt_pdf(make_pdf([text], "Locked"), user_password, "owner-pw", algorithm)


def write_single_line_text(path: Path, megabytes: int) -> Path:
    """`megabytes` MB of words on one line, with no newline at all."""
    block = b"lorem ipsum dolor sit amet " * 38836  # about 1 MB
    with open(path, "wb") as out:
        for _ in range(megabytes):
            out.write(block[: 1 << 20])
    return path


def invalid_utf8_text() -> bytes:
    return b"The caf\xe9 menu lists the wombat special \xff\xfe at 9 \x80 euros.\n"


def utf16_bom_text() -> bytes:
    return codecs.BOM_UTF16_LE + "Die Bücher über den Quokka-Zoo.\n".encode("utf-16-le")


def nul_head_text() -> bytes:
    return b"starts like text\x00\x00\x00 then NULs: binary"


def nul_tail_text() -> bytes:
    """Text whose first NUL comes after the sniffed head: read as text, NULs dropped."""
    return b"The pangolin archive. " * 500 + b"\x00tail\x00"


def elf_like_binary() -> bytes:
    """What an executable renamed to .md looks like."""
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1)
    return header + random.Random(3).randbytes(32 * 1024)


def png_like_binary() -> bytes:
    chunk = b"IHDR" + struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
