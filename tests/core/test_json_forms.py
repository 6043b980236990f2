"""The JSON of a passage, as the CLI's `--json` and the MCP server print it: a public format,
so its keys, their order and their values are pinned here."""

from __future__ import annotations

from embeddinggemma_rag.core.json_forms import answer_json, passage_json
from embeddinggemma_rag.core.records import Answer, Citation, SearchHit

HIT = SearchHit(
    chunk_id=7,
    path="/docs/prices.xlsx",
    title="Prices",
    page=2,
    page_end=3,
    score=0.031,
    text="Kettle 49 EUR",
    char_start=120,
    char_end=133,
    similarity=0.64,
    ocr=True,
    page_label="Kitchen",
)
PLACE = [
    ("path", "/docs/prices.xlsx"),
    ("title", "Prices"),
    ("page", 2),
    ("score", 0.031),
    ("text", "Kettle 49 EUR"),
    ("chunk_id", 7),
    ("char_start", 120),
    ("char_end", 133),
]


def test_a_search_hit_is_its_place_then_similarity_ocr_and_page_label() -> None:
    extra = [("similarity", 0.64), ("ocr", True), ("page_label", "Kitchen")]
    assert list(passage_json(HIT).items()) == [*PLACE, *extra]


def test_a_citation_is_its_number_then_the_passage_place() -> None:
    assert list(passage_json(HIT, number=3).items()) == [("number", 3), *PLACE]


def test_an_answer_writes_its_citations_and_passages_as_passages() -> None:
    answer = Answer("Price?", "49 EUR [1].", [Citation(1, HIT)], [HIT], seconds=1.23456)
    document = answer_json(answer)
    assert list(document) == [
        "question",
        "answer",
        "citations",
        "grounded",
        "cancelled",
        "passages",
        "prompt_tokens",
        "seconds_to_first_token",
        "seconds",
    ]
    assert document["citations"] == [passage_json(HIT, 1)]
    assert document["passages"] == [passage_json(HIT)]
    assert document["seconds"] == 1.235
