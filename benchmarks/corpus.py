"""The generated benchmark corpus: seeded prose, inputs of exact token lengths, and PDFs."""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from models.corpus import CORPUS

_WORDS = sorted(set(re.findall(r"[A-Za-z]+", CORPUS)))
# Rare words and numbers, so keyword search has selective terms as real libraries do.
_RARE = [f"{stem}{n}" for stem in ("kettle", "boiler", "invoice", "clause") for n in range(400)]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 22))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(_RARE))
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), str(rng.randint(1, 2030)))
    return " ".join(words).capitalize() + rng.choice(".....?!")


def paragraph(rng: random.Random, sentences: int | None = None) -> str:
    return " ".join(sentence(rng) for _ in range(sentences or rng.randint(2, 7)))


def prose(rng: random.Random, chars: int) -> str:
    """Paragraphs of seeded text, a heading now and then, about `chars` characters."""
    parts: list[str] = []
    size = 0
    while size < chars:
        heading = rng.random() < 0.15
        part = f"## {sentence(rng)[:-1].title()}" if heading else paragraph(rng)
        parts.append(part)
        size += len(part) + 2
    return "\n\n".join(parts)


def exact_token_texts(
    count_tokens: Callable[[str], int], prefix: str, tokens: int, count: int, seed: int
) -> list[str]:
    """`count` texts that, after `prefix`, make exactly `tokens` model tokens (specials included).

    Cut by binary search on characters: BPE merges across the cut can land one token short,
    so the largest cut that still fits is kept (at most a token under, never over).
    """
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        body = prose(rng, tokens * 8 + 200).replace("\n\n", " ")
        low, high = 1, len(body)
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens(prefix + body[:middle]) <= tokens:
                low = middle
            else:
                high = middle - 1
        texts.append(body[:low])
    return texts


def queries(count: int, seed: int) -> list[str]:
    """Short questions as people type them, some with a rare keyword."""
    rng = random.Random(seed)
    starts = ["how do I", "what is the", "when does the", "where is the", "who signed the"]
    result = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 6))]
        if rng.random() < 0.5:
            words.append(rng.choice(_RARE))
        result.append(f"{rng.choice(starts)} {' '.join(words)}?")
    return result


# PDFs -------------------------------------------------------------------------------------
# pypdf cannot lay out text, so pages are written by hand, the way typesetters write them:
# each line placed with its own text matrix, words in TJ arrays with kerning inside words and
# the spaces left as gaps (as TeX does), the content stream Flate-compressed.


def write_pdf_corpus(folder: Path, files: int, pages: int, seed: int) -> list[Path]:
    """`files` PDFs of `pages` pages each, about 2,500 characters (450 words) per page."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for number in range(files):
        path = folder / f"report-{number:04d}.pdf"
        texts = [_wrap(prose(rng, 2500), 95) for _ in range(pages)]
        if not path.exists():
            path.write_bytes(make_pdf(texts, title=f"Report {number}", seed=number))
        paths.append(path)
    return paths


def _wrap(text: str, width: int) -> str:
    lines: list[str] = []
    for block in text.split("\n"):
        line = ""
        for word in block.split():
            if len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


def _typeset(text: str, rng: random.Random) -> bytes:
    out = [b"BT /F1 9 Tf"]
    y = 760.0
    for line in text.split("\n"):
        parts: list[bytes] = []
        for word in line.split(" "):
            if parts:
                parts.append(b"-%d" % rng.randint(240, 330))  # the space, as a gap
            cut = rng.randrange(1, len(word)) if len(word) > 3 and rng.random() < 0.4 else 0
            if cut:  # kerning inside the word, as between "W" and "o"
                parts += [b"(%s)" % _escape(word[:cut]), b"%d" % rng.randint(5, 40)]
                parts.append(b"(%s)" % _escape(word[cut:]))
            else:
                parts.append(b"(%s)" % _escape(word))
        out.append(b"1 0 0 1 40 %.2f Tm [%s] TJ" % (y, b" ".join(parts)))
        y -= 11
    out.append(b"ET")
    return b"\n".join(out)


def make_pdf(pages: Sequence[str], title: str | None = None, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for text in pages:
        stream = zlib.compress(_typeset(text, rng))
        head = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
        objects.append(head + stream + b"\nendstream")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    info = b""
    if title is not None:
        objects.append(b"<< /Title (%s) >>" % _escape(title))
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
