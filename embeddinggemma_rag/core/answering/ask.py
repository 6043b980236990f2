"""Answering a question from the library: retrieval, relevance, streaming and citations."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embeddinggemma_rag.core.answering.answer_types import Answer, Citation, Turn
from embeddinggemma_rag.core.answering.generation import ChatModel
from embeddinggemma_rag.core.answering.rag_prompt import (
    DEFAULT_PROMPT_TOKENS,
    NumberedPassage,
    QuoteTagFilter,
    build_rag_messages,
    prompt_budget,
    strip_citations,
)
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken
from embeddinggemma_rag.core.errors import RagError
from embeddinggemma_rag.core.intake.documents import SearchHit
from embeddinggemma_rag.core.library.search import query_terms
from embeddinggemma_rag.core.records import CITATION

# Below this cosine for the best passage the documents are taken not to cover the question,
# and the model is not asked (it would guess): the closest passages are listed instead.
# Measured with the real model and `is_relevant` below (`python -m benchmarks --only
# relevance`, README, Retrieval quality): at 0.30, 95.6-100 % of the questions a library
# answers still reach the model (the lowest, Hindi and Arabic, whose cosines run lower), and
# 8-20 % of questions on a subject the library does not hold do; at 0.25 those were 98.6-100 %
# and 23-44 %. A refused answerable question still shows its passage among the closest;
# an off-subject one answered by a small model is a confident guess. So 0.30.
RELEVANCE_THRESHOLD = 0.30

NOT_COVERED = (
    "Your documents do not seem to cover this question. The closest passages are listed "
    "below; try other words, or add documents that hold the answer."
)
NO_PASSAGES = (
    "Nothing to answer from: the library holds no indexed passages yet (or none under the "
    "chosen scope). Add documents, then ask again."
)

# Words too common to show that a keyword hit is about the question.
_STOPWORD_TEXT = (
    "what which when where who whom whose why how does did do is are was were the and for "
    "with from that this these those there their about into over under have has had can "
    "could would should will shall may might must not any all some more most"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Recent turns that join a follow-up's retrieval query, and how much of the last answer.
FOLLOW_UP_QUESTIONS = 2
FOLLOW_UP_ANSWER_CHARS = 300
# A question whose embedding lies at least this close to the conversation so far (the
# recent questions and the end of the last answer, both embedded as queries) may continue
# it. Measured with the real model on XQuAD in five languages (`python -m benchmarks --only
# follow_up`, README, Retrieval quality): a question after one about another article lies
# below it 89-95 % of the time (median 0.03-0.08), a second question on the same paragraph
# above it 96-100 % (median 0.47-0.54); "Who wrote it?", "那百分比呢？" and the like,
# asked of real documents, 0.15-0.46.
FOLLOW_UP_COSINE = 0.15
# ...and at least this close, it surely does: 81-97 % of second questions on one paragraph,
# 0-1 % of those on another article (the closest of them: 0.25-0.38).
SURE_FOLLOW_UP_COSINE = 0.30
# Reciprocal rank fusion's constant (Cormack et al. 2009): ranks, not scores, are merged, so
# the two searches' different cosines need no common scale.
RRF_K = 60


@dataclass(frozen=True)
class AnswerOptions:
    max_answer_tokens: int = 384
    temperature: float = 0.2
    prompt_target: int = DEFAULT_PROMPT_TOKENS
    relevance_threshold: float = RELEVANCE_THRESHOLD


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """The question followed by the conversation so far (`conversation_context`).

    "And the second one?" holds nothing to search for on its own; the last questions and the
    end of the last answer hold what it refers to. (Rewriting the question with the model
    would cost a second prompt evaluation: seconds on two cores.)
    """
    if not history:
        return question
    return f"{question}\n{conversation_context(history)}".strip()


def conversation_context(history: Sequence[Turn]) -> str:
    """The recent questions, newest first, and the end of the last answer."""
    recent = [turn.question for turn in history[-FOLLOW_UP_QUESTIONS:]]
    tail = strip_citations(history[-1].answer)[-FOLLOW_UP_ANSWER_CHARS:]
    return "\n".join([*reversed(recent), tail]).strip()


@dataclass(frozen=True)
class Retrieval:
    """What an answer is built from: the passages, and the earlier turns its prompt carries."""

    hits: list[SearchHit]
    history: Sequence[Turn]


def retrieve_for_question(
    question: str,
    history: Sequence[Turn],
    search: Callable[[str], list[SearchHit]],
    similarity: Callable[[str, str], float] | None,
    k: int,
) -> Retrieval:
    """The question's own search and the conversation's, merged; and whether the earlier
    turns belong in the prompt.

    Searching every later question together with the conversation so far (as the app did)
    found a new subject's paragraph in the top 3 for 57-73 % of XQuAD questions asked after
    one about another article, against 97-98 % searched alone (94-96 % this way, with 100 %
    of second questions on the same paragraph, as before). So both searches run, and
    their lists are merged by reciprocal rank: a passage both find comes first, and on a tie
    the conversation's list leads only when the question lies close to the conversation
    (`FOLLOW_UP_COSINE`, by `similarity`; without embeddings, keyword search, never). A new
    subject keeps its best passages, and "and the second one?" still gets the passages the
    conversation was about. A question very close to the conversation
    (`SURE_FOLLOW_UP_COSINE`) is searched with it alone, as before: its own search would
    only add passages from elsewhere.
    """
    if not history:
        return Retrieval(search(question), [])
    contextual = search(retrieval_query(question, history))
    cosine = similarity(question, conversation_context(history)) if similarity else None
    if cosine is not None and cosine >= SURE_FOLLOW_UP_COSINE:
        return Retrieval(contextual, history)
    own = search(question)
    if cosine is None:  # keyword search: nothing to judge the subject by
        return Retrieval(fuse_hit_lists(own, contextual, k), history)
    if cosine >= FOLLOW_UP_COSINE:
        return Retrieval(fuse_hit_lists(contextual, own, k), history)
    # A new subject: the earlier turns stay out of its prompt too. SmolLM2-135M, given them,
    # answered a question on currency with its earlier answer about another document,
    # word for word (seen in the window); they also cost prompt tokens, so waiting time.
    return Retrieval(fuse_hit_lists(own, contextual, k), [])


def fuse_hit_lists(
    first: Sequence[SearchHit], second: Sequence[SearchHit], k: int
) -> list[SearchHit]:
    """The `k` best of two ranked lists by reciprocal rank fusion; ties keep `first`'s order,
    and a passage in both keeps `first`'s hit."""
    scores: dict[int, float] = {}
    hits: dict[int, SearchHit] = {}
    for ranked in (first, second):
        for rank, hit in enumerate(ranked):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (RRF_K + rank)
            hits.setdefault(hit.chunk_id, hit)
    best = sorted(scores, key=lambda chunk_id: -scores[chunk_id])  # stable: first's on ties
    return [hits[chunk_id] for chunk_id in best[:k]]


def is_relevant(question: str, hits: Sequence[SearchHit], threshold: float) -> bool:
    """Does the best passage reach the threshold, or hold most content words of the question?"""
    if not hits:
        return False
    similarities = [h.similarity for h in hits if h.similarity is not None]
    if not similarities or max(similarities) >= threshold:
        return True  # keyword-only search gives no cosine to judge by: trust its matches
    # A name or code can be in a passage that embeddings rank low: then the passage's words
    # decide. Two thirds of the question's content words, so one shared word is not enough.
    words = {w.lower() for w in query_terms(question) if len(w) > 2 and w.lower() not in _STOPWORDS}
    needed = max(1, math.ceil(len(words) * 2 / 3))
    return bool(words) and any(
        len(words & {w.lower() for w in query_terms(h.text)}) >= needed for h in hits
    )


def cited_numbers(text: str) -> list[int]:
    """Passage numbers cited as [1], [1, 2] or [1][2], in order of first mention."""
    numbers: dict[int, None] = {}
    for group in CITATION.findall(text):
        for part in re.split(r"[,;]", group):
            numbers.setdefault(int(part), None)
    return list(numbers)


def build_citations(text: str, passages: Sequence[NumberedPassage]) -> list[Citation]:
    """A citation for each number the answer uses that was given; invented numbers dropped."""
    given = {p.number: p.hit for p in passages}
    return [Citation(n, hit) for n in cited_numbers(text) if (hit := given.get(n)) is not None]


def answer_question(
    question: str,
    hits: Sequence[SearchHit],
    history: Sequence[Turn],
    generator: Callable[[], ChatModel],
    options: AnswerOptions = AnswerOptions(),
    cancel: CancelToken = NEVER_CANCELLED,
    on_token: Callable[[str], None] | None = None,
    started: float | None = None,
) -> Answer:
    """Answer from `hits` (already retrieved); the generator is loaded only when needed."""
    started = time.monotonic() if started is None else started
    if not is_relevant(question, hits, options.relevance_threshold):
        return Answer(
            question=question,
            text=NOT_COVERED if hits else NO_PASSAGES,  # no "listed below" above an empty list
            passages=list(hits),
            grounded=False,
            seconds=time.monotonic() - started,
        )
    model = generator()
    budget = prompt_budget(model.context_tokens, options.max_answer_tokens)
    prompt = build_rag_messages(question, hits, history, model, budget, options.prompt_target)
    if not prompt.passages:
        raise RagError(
            f"No passage fits beside the question in the model's context ({budget} tokens "
            "after room for the answer): shorten the question or raise context_tokens."
        )
    cancel.raise_if_cancelled()
    pieces: list[str] = []
    first_token: float | None = None
    stream = model.stream_chat(
        prompt.messages, options.max_answer_tokens, options.temperature, cancel
    )
    tags = QuoteTagFilter()
    for piece in stream:
        if first_token is None:
            first_token = time.monotonic() - started
        shown = tags.feed(piece)
        pieces.append(shown)
        if on_token is not None and shown:
            on_token(shown)
    if rest := tags.finish():
        pieces.append(rest)
        if on_token is not None:
            on_token(rest)
    text = "".join(pieces).strip()
    return Answer(
        question=question,
        text=text,
        citations=build_citations(text, prompt.passages),
        passages=[p.hit for p in prompt.passages],
        grounded=True,
        cancelled=cancel.cancelled,
        prompt_tokens=prompt.prompt_tokens,
        seconds_to_first_token=first_token,
        seconds=time.monotonic() - started,
    )
