"""Answering: relevance gate, citations, follow-ups, cancel, and the engine's `ask` end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddinggemma_rag.core.answering.answer_types import Turn
from embeddinggemma_rag.core.answering.ask import (
    FOLLOW_UP_COSINE,
    NOT_COVERED,
    RELEVANCE_THRESHOLD,
    SURE_FOLLOW_UP_COSINE,
    AnswerOptions,
    answer_question,
    build_citations,
    cited_numbers,
    fuse_hit_lists,
    is_relevant,
    retrieval_query,
    retrieve_for_question,
)
from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
from embeddinggemma_rag.core.answering.rag_prompt import NumberedPassage
from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.intake.documents import SearchHit
from embeddinggemma_rag.core.self_test import copy_sample
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.stubs import ScriptedGenerator, make_hit, refusing_generator

HITS = [
    make_hit(1, "The Aurora kettle has a warranty of three years.", "/docs/kettle.pdf", 2),
    make_hit(2, "The element and the thermostat are covered.", "/docs/kettle.pdf", 3),
    make_hit(3, "Tomatoes go into the raised bed in May.", "/docs/garden.txt", None),
]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("It lasts three years [1].", [1]),
        ("Covered [1, 2] and [2; 3].", [1, 2, 3]),
        ("See [3][1] then [1].", [3, 1]),
        ("No marks, [a] or [1.5] or [] here.", []),
        # Figures quoted with thousands separators are numbers, not passages 1 and 0.
        ("It costs [1,000] dollars, or [12,500,000] in all [2].", [2]),
    ],
)
def test_cited_numbers(text: str, numbers: list[int]) -> None:
    assert cited_numbers(text) == numbers


def test_citations_keep_given_numbers_and_drop_invented_ones() -> None:
    given = [NumberedPassage(n, hit, hit.text) for n, hit in enumerate(HITS[:2], 1)]
    citations = build_citations("Three years [1], the element [2], and more [9].", given)
    assert [c.number for c in citations] == [1, 2]
    first = citations[0].hit
    assert (first.path, first.page, first.text) == (HITS[0].path, 2, HITS[0].text)
    assert (first.chunk_id, first.char_start, first.char_end) == (1, 10, 10 + len(HITS[0].text))
    assert first.title == "kettle.pdf" and first.score == HITS[0].score


def test_answer_streams_and_cites_only_given_passages() -> None:
    model = ScriptedGenerator()
    pieces: list[str] = []
    answer = answer_question(
        "How long is the warranty?", HITS, [], lambda: model, on_token=pieces.append
    )
    assert answer.grounded and not answer.cancelled
    assert "".join(pieces).strip() == answer.text == model.reply
    assert [c.number for c in answer.citations] == [1, 2]  # [9] was never given
    assert answer.passages == HITS
    assert answer.prompt_tokens == model.count_chat_tokens(model.calls[0])
    assert answer.seconds_to_first_token is not None and answer.seconds >= 0


def test_quote_tags_a_model_copies_from_the_prompt_are_left_out() -> None:
    model = ScriptedGenerator(reply="It lasts three years [1]. <quote> three years </quote>")
    pieces: list[str] = []
    answer = answer_question("How long?", HITS, [], lambda: model, on_token=pieces.append)
    assert " ".join(answer.text.split()) == "It lasts three years [1]. three years"
    assert "".join(pieces).strip() == answer.text
    assert [c.number for c in answer.citations] == [1]


def test_unrelated_question_does_not_reach_the_model() -> None:
    far = [make_hit(i, f"Passage {i} about gardening.", similarity=0.05) for i in range(3)]
    answer = answer_question("What is the capital of France?", far, [], refusing_generator)
    assert not answer.grounded and answer.text == NOT_COVERED
    assert answer.passages == far and answer.citations == []


def test_no_hits_at_all_is_not_covered() -> None:
    answer = answer_question("Anything?", [], [], refusing_generator)
    assert not answer.grounded


def test_keywords_can_vouch_for_a_passage_embeddings_rank_low() -> None:
    low = [make_hit(1, "Error code XJ-900 means the pump is blocked.", similarity=0.1)]
    assert is_relevant("What does error XJ-900 mean?", low, RELEVANCE_THRESHOLD)
    assert not is_relevant("What does error ZZ-111 mean?", low, RELEVANCE_THRESHOLD)


def test_keyword_only_hits_have_no_cosine_and_are_trusted() -> None:
    keyword_only = [make_hit(1, "anything", similarity=None)]
    assert is_relevant("q", keyword_only, RELEVANCE_THRESHOLD)


def test_follow_up_retrieval_uses_the_recent_turns() -> None:
    history = [
        Turn("Which kettles are covered?", "The Aurora K2 [1] and the Borealis [2]."),
        Turn("What about the Aurora K2?", "Three years for the Aurora K2 [1]."),
    ]
    query = retrieval_query("and the second one?", history)
    assert query.startswith("and the second one?")
    assert "Which kettles are covered?" in query and "What about the Aurora K2?" in query
    assert "Three years for the Aurora K2" in query and "[1]" not in query
    assert retrieval_query("first question", []) == "first question"


KETTLE_TURN = Turn("What is the kettle's warranty?", "Three years for the Aurora kettle [1].")
KETTLE_HITS = [make_hit(1, "Kettle warranty: three years."), make_hit(2, "Kettle element.")]
GARDEN_HITS = [make_hit(7, "Tomatoes go in in May."), make_hit(8, "Water the beans.")]


class FakeSearch:
    """The question's own search finds the garden, the conversation's finds the kettle."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def __call__(self, query: str) -> list[SearchHit]:
        self.queries.append(query)
        return list(KETTLE_HITS if "warranty" in query else GARDEN_HITS)


def _retrieve(
    cosine: float | None, history: list[Turn] | None = None
) -> tuple[list[SearchHit], FakeSearch, list[Turn]]:
    """The passages found, the searches run, and the turns the prompt would carry."""
    search = FakeSearch()
    similarity = None if cosine is None else (lambda question, context: cosine)
    turns = [KETTLE_TURN] if history is None else history
    found = retrieve_for_question("When do tomatoes go in?", turns, search, similarity, k=3)
    return found.hits, search, list(found.history)


def test_a_question_on_a_new_subject_keeps_its_own_passages_first() -> None:
    """The bug a newcomer met: a second question on another subject was searched together
    with the first and answered from the first subject's passages."""
    hits, search, turns = _retrieve(FOLLOW_UP_COSINE - 0.01)
    assert [h.chunk_id for h in hits] == [7, 1, 8]
    # Nor does its prompt carry the earlier turns: SmolLM2 repeated the earlier answer.
    assert turns == []
    assert search.queries == [
        retrieval_query("When do tomatoes go in?", [KETTLE_TURN]),
        "When do tomatoes go in?",
    ]


def test_a_follow_up_leads_with_the_conversations_passages() -> None:
    hits, _, turns = _retrieve(FOLLOW_UP_COSINE)
    assert [h.chunk_id for h in hits] == [1, 7, 2]
    assert turns == [KETTLE_TURN]


def test_a_sure_follow_up_is_searched_with_the_conversation_only() -> None:
    hits, search, turns = _retrieve(SURE_FOLLOW_UP_COSINE)
    assert [h.chunk_id for h in hits] == [1, 2] and turns == [KETTLE_TURN]
    assert len(search.queries) == 1 and "What is the kettle's warranty?" in search.queries[0]


def test_without_embeddings_a_later_question_keeps_its_own_passages_first() -> None:
    hits, _, turns = _retrieve(None)
    assert [h.chunk_id for h in hits][:2] == [7, 1]
    assert turns == [KETTLE_TURN]  # nothing to judge the subject by: the turns stay


def test_a_first_question_is_searched_alone() -> None:
    hits, search, _ = _retrieve(0.9, history=[])
    assert search.queries == ["When do tomatoes go in?"] and [h.chunk_id for h in hits] == [7, 8]


def test_fusion_puts_what_both_lists_found_first_and_keeps_the_first_lists_hit() -> None:
    shared_first = make_hit(5, "found by both", similarity=0.9)
    shared_second = make_hit(5, "found by both", similarity=0.2)
    first = [make_hit(1, "only first"), shared_first]
    second = [make_hit(2, "only second"), shared_second]
    fused = fuse_hit_lists(first, second, k=2)
    assert [h.chunk_id for h in fused] == [5, 1]
    assert fused[0] is shared_first


def test_follow_up_prompt_carries_earlier_turns() -> None:
    model = ScriptedGenerator()
    history = [Turn("Which kettle?", "The Aurora K2 [1].")]
    answer_question("And its warranty?", HITS, history, lambda: model)
    roles = [m["role"] for m in model.calls[0]]
    assert roles == ["system", "user", "assistant", "user"]
    assert model.calls[0][2]["content"] == "The Aurora K2."


def test_cancel_after_the_first_token_keeps_the_partial_answer() -> None:
    model = ScriptedGenerator(reply="one two three four five six seven eight nine ten")
    cancel = CancelToken()
    answer = answer_question(
        "q?", HITS, [], lambda: model, cancel=cancel, on_token=lambda _: cancel.cancel()
    )
    assert answer.cancelled and answer.text == "one"
    assert model.yielded == 1


def test_threshold_is_injectable() -> None:
    far = [make_hit(1, "unrelated", similarity=0.01)]
    model = ScriptedGenerator()
    options = AnswerOptions(relevance_threshold=-1.0)
    assert answer_question("q?", far, [], lambda: model, options).grounded


# The engine, with the tiny embedding model and a real library --------------------------


@pytest.fixture()
def library_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        generator_model=TINY_CHAT_MODEL,
        threads=1,
    )


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    copy_sample(tmp_path / "docs")
    return tmp_path / "docs"


def test_engine_ask_cites_retrieved_passages(library_settings: Settings, sample: Path) -> None:
    model = ScriptedGenerator()
    engine = build_engine(library_settings, generator_factory=lambda _: model)
    engine.relevance_threshold = -1.0  # random weights: cosines mean nothing
    try:
        engine.ingest([sample])
        pieces: list[str] = []
        answer = engine.ask("How long is the Aurora kettle warranty?", on_token=pieces.append)
        retrieved = {hit.chunk_id: hit for hit in answer.passages}
        assert pieces and answer.citations
        for citation in answer.citations:
            cited = citation.hit
            hit = retrieved[cited.chunk_id]  # every citation points at a retrieved passage
            assert (cited.path, cited.text, cited.page) == (hit.path, hit.text, hit.page)
            assert answer.passages[citation.number - 1] is hit
        assert 9 not in [c.number for c in answer.citations]
        # The follow-up's retrieval query and prompt carry the first turn.
        engine.ask("and the element?", [Turn(answer.question, answer.text)])
        assert "How long is the Aurora kettle warranty?" in model.calls[1][1]["content"]
    finally:
        engine.close()
    assert model.closed


def test_engine_answers_a_new_subject_from_its_own_passages(
    library_settings: Settings, tmp_path: Path
) -> None:
    """Keyword search (no embeddings to judge the subject by): after a question on the
    kettle, a question on tomatoes is answered from the garden notes, which the question and
    the conversation searched together ranked below the kettle's manual."""
    docs = tmp_path / "two-subjects"
    docs.mkdir()
    (docs / "kettle.txt").write_text(
        "The Aurora kettle warranty lasts three years. The kettle warranty covers the "
        "kettle element. Aurora kettle owners claim the warranty within three years."
    )
    (docs / "garden.txt").write_text("Tomatoes go into the raised bed in May.")
    model = ScriptedGenerator()
    settings = library_settings.replace(search_mode="keyword")
    engine = build_engine(settings, generator_factory=lambda _: model)
    try:
        engine.ingest([docs])
        first = engine.ask("How long is the Aurora kettle warranty?", k=1)
        assert Path(first.passages[0].path).name == "kettle.txt"
        history = [Turn(first.question, "The Aurora kettle warranty lasts three years [1].")]
        assert (
            Path(
                engine.search(retrieval_query("When do tomatoes go in?", history), k=1)[0].path
            ).name
            == "kettle.txt"
        )

        second = engine.ask("When do tomatoes go in?", history, k=1)

        assert Path(second.passages[0].path).name == "garden.txt"
    finally:
        engine.close()


def test_engine_without_relevant_passages_never_loads_the_generator(
    library_settings: Settings, sample: Path
) -> None:
    engine = build_engine(library_settings, generator_factory=lambda _: refusing_generator())
    engine.relevance_threshold = 2.0  # nothing can reach it
    try:
        engine.ingest([sample])
        answer = engine.ask("What is the capital of France?")
    finally:
        engine.close()
    assert not answer.grounded and answer.passages


@pytest.fixture()
def real_engine(library_settings: Settings, sample: Path) -> Iterator[Engine]:
    engine = build_engine(library_settings.replace(context_tokens=2048, max_answer_tokens=64))
    engine.relevance_threshold = -1.0
    engine.ingest([sample])
    yield engine
    engine.close()


def test_engine_streams_from_the_real_tiny_gguf_within_the_context(real_engine: Engine) -> None:
    pieces: list[str] = []
    answer = real_engine.ask("How long is the Aurora kettle warranty?", on_token=pieces.append)
    assert isinstance(real_engine.generator, ProcessChatModel)  # the default: its own process
    assert 0 < len(pieces) <= 64
    assert answer.grounded and answer.passages
    assert 0 < answer.prompt_tokens <= 2048 - 64
    assert {c.hit.chunk_id for c in answer.citations} <= {h.chunk_id for h in answer.passages}


def test_engine_cancel_stops_the_real_model_promptly(real_engine: Engine) -> None:
    cancel = CancelToken()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        cancel.cancel()

    answer = real_engine.ask("What does the manual say?", cancel=cancel, on_token=on_token)
    assert answer.cancelled and len(pieces) == 1


def test_answers_beside_an_ingest_take_half_the_threads(
    library_settings: Settings, sample: Path
) -> None:
    model = ScriptedGenerator()
    engine = build_engine(library_settings.replace(threads=2), generator_factory=lambda _: model)
    engine.relevance_threshold = -1.0
    try:
        engine.ingest([sample])
        engine.ask("How long is the Aurora kettle warranty?")
        with engine._ingest_lock:  # as while a folder is being indexed
            engine.ask("How long is the Aurora kettle warranty?")
    finally:
        engine.close()
    assert model.threads == [2, 1]


def test_the_threshold_stops_passages_a_measured_off_subject_question_gets() -> None:
    """0.25-0.30 is where off-subject questions' best passages sat (README, relevance gate)."""
    question = "Which river flows through the capital?"
    at = [make_hit(1, "Bees make honey in summer.", similarity=0.28)]
    assert not is_relevant(question, at, RELEVANCE_THRESHOLD)
    assert is_relevant(question, [make_hit(1, "Bees.", similarity=0.31)], RELEVANCE_THRESHOLD)
