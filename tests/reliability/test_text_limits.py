"""Huge text: refused clearly at the text limit, whatever the format, and long lines stay cheap."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.chunking import chunk_document
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing import limits, parse_file
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.core.intake.parsing.office_factory import docx_paragraph, make_docx
from tests.core.intake.parsing.pdf_factory import make_pdf

LIMIT = 1000  # characters, for these tests


@pytest.fixture()
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_TEXT_CHARS", LIMIT)


def reason(path: Path) -> str:
    with pytest.raises(DocumentError) as raised:
        parse_file(path)
    assert raised.value.status == "failed"
    return raised.value.reason


@pytest.mark.usefixtures("small_limit")
def test_a_text_file_too_large_to_fit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.log"
    path.write_bytes(b"x" * (4 * LIMIT + 5))  # more bytes than any encoding fits in the limit
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read"))

    assert reason(path) == (
        "too large for the text limit (4,005 bytes; text files are read up to 4,004 bytes)"
    )


@pytest.mark.usefixtures("small_limit")
@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".json"])
def test_text_past_the_limit_is_refused_in_every_text_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"long{suffix}"
    path.write_text("w" * (LIMIT + 200))

    assert reason(path) == (
        "too large for the text limit (1,200 characters of text; the limit is 1,000)"
    )


@pytest.mark.usefixtures("small_limit")
def test_text_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "exact.txt"
    path.write_text("a" * LIMIT)

    assert len(parse_file(path).pages[0].text) == LIMIT


@pytest.mark.usefixtures("small_limit")
def test_a_pdf_stops_at_the_page_that_passes_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PageObject

    path = tmp_path / "book.pdf"
    path.write_bytes(make_pdf([f"Page {n} " + "text " * 60 for n in range(20)]))
    extract = PageObject.extract_text
    calls: list[int] = []

    def counting(self: PageObject, *args: object, **kwargs: object) -> str:
        calls.append(1)
        return extract(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(PageObject, "extract_text", counting)

    assert reason(path).startswith("too large for the text limit")
    assert len(calls) == 4  # about 300 characters a page: the fourth passes 1,000


@pytest.mark.usefixtures("small_limit")
def test_an_office_file_that_unpacks_past_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.docx"
    path.write_bytes(make_docx(docx_paragraph("word " * 400)))

    assert reason(path).startswith("too large for the text limit")


def test_the_default_limit_leaves_room_for_a_very_long_book() -> None:
    # A 5,000-page book holds about 15 million characters (3,000 a page).
    assert limits.MAX_TEXT_CHARS >= 15_000_000


def test_one_long_line_is_chunked_in_linear_time() -> None:
    """Work is counted in characters handed to the tokenizer, not timed."""
    embedder = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1)
    ratios = []
    for kilobytes in (24, 96):
        counted = 0

        def counting(text: str) -> int:
            nonlocal counted
            counted += len(text)
            return embedder.count_tokens(text)

        line = ("lorem ipsum dolor sit amet " * (kilobytes * 40))[: kilobytes * 1024]
        document = ParsedDocument(title=None, pages=(PageText(None, line),))
        chunks = chunk_document(document, "t", counting, 512, 64)
        assert chunks and max(c.token_count for c in chunks) <= 512
        assert "".join(c.text for c in chunks).replace(" ", "") == line.replace(" ", "")
        ratios.append(counted / len(line))
    # Linear: each character is tokenised a bounded number of times, whatever the length
    # (quadratic work would make four times the text cost four times more per character).
    assert max(ratios) < 16, ratios  # measured 10.0 and 10.2; the old cut gave 19.6 at 24 KB
    assert ratios[1] < 1.25 * ratios[0], ratios
