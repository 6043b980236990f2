"""An answer with no passages at all never speaks of passages "listed below"."""

from __future__ import annotations

from embeddinggemma_rag.core.answering.ask import NO_PASSAGES, answer_question
from tests.stubs import refusing_generator


def test_no_passages_says_the_library_holds_none() -> None:
    answer = answer_question("How long is the warranty?", [], [], refusing_generator)
    assert not answer.grounded and answer.passages == []
    assert answer.text == NO_PASSAGES
    assert "below" not in answer.text
