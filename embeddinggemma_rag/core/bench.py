"""`bench`: how fast this machine indexes and answers, measured with the user's own models."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from embeddinggemma_rag.core.answering.generation import ChatModel
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED
from embeddinggemma_rag.core.errors import RagError
from embeddinggemma_rag.core.intake.documents import SearchHit
from embeddinggemma_rag.core.models import compute_choice, engine_models, model_files
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
from embeddinggemma_rag.core.settings import Settings

# A PDF page of running text is about 450 words, about 600 tokens of EmbeddingGemma's
# vocabulary: what turns tokens/s into the pages/minute a person can picture.
TOKENS_PER_PAGE = 600
# Enough text per measurement for a stable rate on a laptop (a few seconds with the real
# model), small enough that the whole bench stays under a minute.
EMBED_TOKENS_PER_RUN = 4096
ANSWER_TOKENS = 48
QUESTION = "What do the passages say about resetting the boiler after a power failure?"
_SAMPLE = (
    "The boiler restarts on its own after a short power cut. After a long one, open the "
    "front panel, hold the reset button for five seconds and wait until the green light "
    "stops blinking. If the pressure gauge shows less than one bar, refill the system "
    "through the valve under the boiler before the reset. The annual inspection is due in "
    "March; the technician checks the flue, the seals and the expansion vessel. "
)


@dataclass(frozen=True)
class EmbeddingSpeed:
    tokens_per_input: int
    inputs: int
    seconds: float
    tokens_per_second: float
    chunks_per_second: float


@dataclass(frozen=True)
class AnswerSpeed:
    prompt_tokens: int
    seconds_to_first_token: float
    prompt_tokens_per_second: float
    answer_tokens: int
    tokens_per_second: float


@dataclass
class BenchReport:
    threads: int
    embedding_model: str
    generator_model: str | None = None
    # How the embedding graph computes on this CPU and the figures that chose it (None: the
    # graph has one way, as written).
    embedding_compute: dict[str, Any] | None = None
    # The CPU the figures belong to: family and model numbers, the instruction sets that matter.
    cpu: str = field(default_factory=compute_choice.cpu_identity)
    load_seconds: dict[str, float] = field(default_factory=dict)
    embedding: list[EmbeddingSpeed] = field(default_factory=list)
    query_milliseconds: float | None = None
    answer: AnswerSpeed | None = None
    answer_problem: str | None = None

    @property
    def pages_per_minute(self) -> float | None:
        """Indexing speed at the library's chunk size, in pages of running text."""
        if not self.embedding:
            return None
        return self.embedding[0].tokens_per_second * 60 / TOKENS_PER_PAGE

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["pages_per_minute"] = self.pages_per_minute
        document["tokens_per_page"] = TOKENS_PER_PAGE
        return document


def run_bench(
    settings: Settings,
    report: Callable[[str], None] = lambda _: None,
    embedder_factory: Callable[[Settings], OnnxEmbedder] | None = None,
    generator_factory: Callable[[Settings], ChatModel] | None = None,
) -> BenchReport:
    """Embed chunks of the library's size, time a question's embedding, then answer one
    question at the default prompt size. A missing generator is reported, not fatal."""
    make_embedder = embedder_factory or engine_models.default_embedder
    started = time.perf_counter()
    embedder = make_embedder(settings)
    result = BenchReport(settings.threads, str(model_files.embedding_model_path(settings)))
    result.load_seconds["embedding_model"] = time.perf_counter() - started
    report(f"embedding model loaded in {result.load_seconds['embedding_model']:.1f} s")
    choice = getattr(embedder, "compute", None)
    if choice is not None:
        result.embedding_compute = dataclasses.asdict(choice)
    speed = measure_embedding(embedder, settings.chunk_tokens)
    result.embedding.append(speed)
    report(f"embedding {speed.tokens_per_input}-token chunks: {speed.tokens_per_second:,.0f} tok/s")
    result.query_milliseconds = measure_query(embedder)
    try:
        path = model_files.generator_model_path(settings)
        result.generator_model = str(path)
        started = time.perf_counter()
        generator = (generator_factory or engine_models.default_generator)(settings)
    except RagError as error:  # no generator yet: the embedding figures still stand
        result.answer_problem = error.message
        report(f"answering not measured: {error.message}")
        return result
    result.load_seconds["generator_model"] = time.perf_counter() - started
    try:
        result.answer = measure_answer(generator, settings)
    finally:
        generator.close()
    report(f"first answer token after {result.answer.seconds_to_first_token:.1f} s")
    return result


def sample_text(embedder: OnnxEmbedder, tokens: int, variant: int) -> str:
    """A document input of exactly `tokens` tokens or one fewer (BPE merges at the cut)."""
    prefix = embedder.document_input(f"Manual {variant}", "")
    body = (_SAMPLE[variant % 7 :] + _SAMPLE) * (tokens // 40 + 2)
    low, high = 0, len(body)
    while low < high:  # the longest prefix of `body` that fits
        middle = (low + high + 1) // 2
        if embedder.count_tokens(prefix + body[:middle]) <= tokens:
            low = middle
        else:
            high = middle - 1
    return prefix + body[:low]


def measure_embedding(embedder: OnnxEmbedder, tokens: int) -> EmbeddingSpeed:
    """Tokens/s through the app's own batching, after one warm-up batch."""
    count = max(2, EMBED_TOKENS_PER_RUN // tokens)
    inputs = [sample_text(embedder, tokens, n) for n in range(count)]
    embedder.embed(inputs[:1])  # first run: onnxruntime allocates and packs
    counted = sum(embedder.count_tokens(text) for text in inputs)
    started = time.perf_counter()
    embedder.embed(inputs)
    seconds = max(time.perf_counter() - started, 1e-9)
    return EmbeddingSpeed(tokens, count, seconds, counted / seconds, count / seconds)


def measure_query(embedder: OnnxEmbedder, repeats: int = 5) -> float:
    """Milliseconds to embed one short question: the part of a search that runs the model."""
    question = embedder.query_input(QUESTION)
    embedder.embed([question])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        embedder.embed([question])
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def measure_answer(generator: ChatModel, settings: Settings) -> AnswerSpeed:
    """One answer to a prompt of the app's default size, built by the app's prompt builder."""
    from embeddinggemma_rag.core.answering.rag_prompt import (
        DEFAULT_PROMPT_TOKENS,
        build_rag_messages,
        prompt_budget,
    )

    budget = prompt_budget(generator.context_tokens, settings.max_answer_tokens)
    hits = [_sample_hit(n) for n in range(settings.top_k)]
    prompt = build_rag_messages(QUESTION, hits, (), generator, budget, DEFAULT_PROMPT_TOKENS)
    pieces = 0
    first = last = 0.0
    started = time.perf_counter()
    stream = generator.stream_chat(
        prompt.messages, ANSWER_TOKENS, settings.temperature, NEVER_CANCELLED
    )
    for _ in stream:
        last = time.perf_counter() - started
        if pieces == 0:
            first = last
        pieces += 1
    if pieces == 0:
        raise RagError("bench: the generator model wrote nothing")
    rate = (pieces - 1) / (last - first) if pieces > 1 and last > first else 0.0
    return AnswerSpeed(prompt.prompt_tokens, first, prompt.prompt_tokens / first, pieces, rate)


def _sample_hit(number: int) -> SearchHit:
    text = (_SAMPLE[number * 11 :] + _SAMPLE) * 3
    return SearchHit(
        chunk_id=number + 1,
        path=f"/bench/manual-{number}.pdf",
        title=f"Manual {number}",
        page=number + 1,
        page_end=number + 1,
        score=1.0 / (number + 1),
        text=text,
        char_start=0,
        char_end=len(text),
        similarity=0.6,
    )


def format_report(result: BenchReport) -> str:
    """The plain-text table the command prints."""
    rows = [("threads", str(result.threads))]
    rows += [
        (f"load {name.replace('_', ' ')}", f"{s:.1f} s") for name, s in result.load_seconds.items()
    ]
    if result.embedding_compute is not None:
        compute = result.embedding_compute
        figures = ", ".join(
            f"{label} {rate:,.0f}" for label, rate in compute["tokens_per_second"].items()
        )
        when = "measured now" if compute["measured_now"] else "measured at first load"
        rows.append(("embedding compute", f"{compute['label']} ({when}: {figures} tokens/s)"))
    else:
        rows.append(
            ("embedding compute", "as the graph is written (no 4-bit MatMuls to choose for)")
        )
    rows.append(("CPU", result.cpu))
    for speed in result.embedding:
        rows.append(
            (
                f"embedding, {speed.tokens_per_input}-token chunks",
                f"{speed.tokens_per_second:,.0f} tokens/s, {speed.chunks_per_second:.1f} chunks/s",
            )
        )
    if result.pages_per_minute is not None:
        rows.append(
            ("indexing (embedding only)", f"about {result.pages_per_minute:,.0f} pages/minute")
        )
    if result.query_milliseconds is not None:
        rows.append(("embedding a question", f"{result.query_milliseconds:.0f} ms"))
    if result.answer is not None:
        answer = result.answer
        rows.append(
            (
                f"first answer token ({answer.prompt_tokens}-token prompt)",
                f"{answer.seconds_to_first_token:.1f} s "
                f"({answer.prompt_tokens_per_second:.0f} prompt tokens/s)",
            )
        )
        rows.append(("writing the answer", f"{answer.tokens_per_second:.1f} tokens/s"))
    else:
        rows.append(("answering", f"not measured: {result.answer_problem}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
