"""Chunking: limits, boundaries, offsets and pages."""

from __future__ import annotations

import itertools

import pytest

from embeddinggemma_rag.core.intake.chunking import chunk_document
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.models.prompts import document_prompt


def word_tokens(model_input: str) -> int:
    """A transparent tokenizer for algorithm tests: one token a word, plus <bos>/<eos>."""
    return len(model_input.split()) + 2


def doc(*pages: str, numbered: bool = True) -> ParsedDocument:
    return ParsedDocument(
        "T", tuple(PageText(i + 1 if numbered else None, p) for i, p in enumerate(pages))
    )


def sentences(n: int, words: int = 9, tag: str = "s") -> str:
    return " ".join(f"{tag}{i} " + " ".join(["word"] * (words - 2)) + " end." for i in range(n))


def test_no_chunk_exceeds_the_size_with_its_prompt() -> None:
    document = doc(sentences(200), sentences(50, tag="p"))
    chunks = chunk_document(document, "Title", word_tokens, chunk_tokens=80, overlap_tokens=10)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.token_count == word_tokens(document_prompt("Title") + chunk.text)
        assert chunk.token_count <= 80


def test_offsets_point_at_the_passage_and_pages_follow_the_text() -> None:
    document = doc(sentences(30, tag="a"), sentences(30, tag="b"), sentences(30, tag="c"))
    chunks = chunk_document(document, None, word_tokens, chunk_tokens=64, overlap_tokens=8)
    for chunk in chunks:
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text
        first_word = chunk.text.split()[0]
        assert first_word[0] == "abc"[chunk.page_start - 1]  # type: ignore[operator]
        assert chunk.page_start == chunk.page_end  # a chunk never spans a page break
    assert {c.page_start for c in chunks} == {1, 2, 3}


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    document = doc(sentences(40))
    chunks = chunk_document(document, None, word_tokens, chunk_tokens=64, overlap_tokens=20)
    for before, after in itertools.pairwise(chunks):
        assert after.char_start < before.char_end  # shared text
        assert document.text[after.char_start - 1] == " "  # starts at a sentence start


def test_every_sentence_is_in_some_chunk() -> None:
    document = doc(sentences(57))
    chunks = chunk_document(document, None, word_tokens, chunk_tokens=50, overlap_tokens=0)
    covered = "".join(c.text + " " for c in chunks)
    for i in range(57):
        assert f"s{i} " in covered


def test_breaks_before_a_heading() -> None:
    text = sentences(6, tag="intro") + "\n\n# Second part\n\n" + sentences(3, tag="body")
    chunks = chunk_document(doc(text, numbered=False), None, word_tokens, 120, 0)
    assert len(chunks) == 2
    assert chunks[1].text.startswith("# Second part")
    assert chunks[0].page_start is None


def test_a_sentence_longer_than_a_chunk_is_cut() -> None:
    monster = " ".join(f"w{i}" for i in range(1000))
    chunks = chunk_document(doc(monster), None, word_tokens, chunk_tokens=100, overlap_tokens=0)
    assert all(c.token_count <= 100 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == monster.split()


def test_text_without_spaces_is_still_cut() -> None:
    def char_tokens(model_input: str) -> int:
        return len(model_input) // 4 + 2

    blob = "x" * 20000
    chunks = chunk_document(doc(blob), None, char_tokens, chunk_tokens=128, overlap_tokens=0)
    assert "".join(c.text for c in chunks) == blob
    assert all(c.token_count <= 128 for c in chunks)


def test_empty_document_gives_no_chunks() -> None:
    assert chunk_document(doc("", "  \n "), None, word_tokens, 64, 8) == []


def test_size_over_the_model_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="2048"):
        chunk_document(doc("a b c"), None, word_tokens, chunk_tokens=4096, overlap_tokens=0)
