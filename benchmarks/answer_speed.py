"""5. Answering: time to first token and tokens/s through `Engine.ask` and the app's answer
process (`ProcessChatModel`), against bare llama-cpp-python in process on the very same
messages. The real SmolLM2-135M-Instruct when fetched (`answer_load.chat_model`), else the
full-size random Gemma-3-1B."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.answer_load import chat_model
from benchmarks.common import (
    Context,
    Section,
    ensure_embedding_model,
    load_average,
    log,
    median,
)
from benchmarks.corpus import prose

ANSWER_TOKENS = 64  # enough for a stable rate; a full 384-token answer adds nothing but time
GOAL_TTFT_S = 6.0
SETTLE_S = 1.0  # seconds between the peer's answer and the app's next question
QUESTIONS = [
    "How do I reset the boiler after a power failure?",
    "What did the contract say about the notice period?",
    "Which invoices are still unpaid this quarter?",
    "When is the next inspection of the building due?",
]


class RecordingGenerator:
    """Wraps the app's LlamaGenerator: keeps the messages it is given and when text arrives."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.context_tokens = inner.context_tokens
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # everything not recorded: the app's generator as is

    def stream_chat(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, cancel: Any
    ) -> Iterator[str]:
        call: dict[str, Any] = {"messages": [dict(m) for m in messages], "pieces": 0}
        call["prompt_tokens"] = self.inner.count_chat_tokens(messages)
        self.calls.append(call)
        started = time.perf_counter()
        for piece in self.inner.stream_chat(messages, max_tokens, temperature, cancel):
            now = time.perf_counter()
            call.setdefault("first", now - started)
            call["pieces"] += 1
            call["last"] = now - started
            yield piece

    def reset(self) -> None:
        self.inner.forget_prompt()  # every round starts cold

    def close(self) -> None:
        self.inner.close()


def run(ctx: Context) -> Section:
    from llama_cpp import Llama

    from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
    from embeddinggemma_rag.core.answering.generation import amx_repack_is_safe, model_params
    from embeddinggemma_rag.core.engine import build_engine
    from embeddinggemma_rag.core.settings import Settings

    section = Section("answer", "Answering: the app's path against bare llama-cpp-python")
    chat = chat_model()
    rounds = ctx.repeats(4, 2)  # pairs: each question asked app-first, then peer-first
    with tempfile.TemporaryDirectory(prefix="bench-answer-") as tmp:
        docs = _documents(Path(tmp) / "docs")
        settings = Settings(
            data_dir=Path(tmp) / "library",
            embedding_model=ensure_embedding_model(),
            generator_model=chat,
            threads=ctx.threads,
            max_answer_tokens=ANSWER_TOKENS,
        )
        recorder: list[RecordingGenerator] = []

        def factory(s: Settings) -> RecordingGenerator:
            # The app's answer model: llama.cpp in its own process (core/answering/chat_process.py).
            generator = ProcessChatModel(chat, s.context_tokens, s.threads)
            recorder.append(RecordingGenerator(generator))
            return recorder[0]

        engine = build_engine(settings, generator_factory=factory)
        engine.relevance_threshold = -1.0  # random weights: cosines mean nothing
        with model_params(amx_repack_is_safe()):  # the same AMX work-around as the app
            bare = Llama(
                str(chat),
                n_ctx=settings.context_tokens,
                n_threads=ctx.threads,
                n_threads_batch=ctx.threads,
                seed=0,
                verbose=False,
            )
        try:
            engine.ingest([docs])
            engine.generator  # loading is start-up, not answering  # noqa: B018
            app: list[dict[str, float]] = []
            peer: list[dict[str, float]] = []
            asked: dict[str, list[dict[str, str]]] = {}  # question -> the app's messages
            for round_ in range(rounds):
                question = QUESTIONS[(round_ // 2) % len(QUESTIONS)]
                # Every other round the peer answers first, on the messages the app built for
                # the same question the round before: whichever goes second runs on cores
                # the first has just warmed (or left busy), and that must not always be one side.
                peer_first = question in asked
                log(f"answer round {round_ + 1}, load {load_average()}")
                if peer_first:
                    bare.reset()
                    peer.append(_bare(bare, asked[question], settings.temperature))
                # The peer's last answer ran in this process, which the app's answer process
                # sees as another program keeping both cores busy and answers with fewer
                # threads for the next half second (core/cpu_share.py). A person reads an
                # answer before asking again: let the cores settle as they would.
                time.sleep(SETTLE_S)
                recorder[0].reset()
                started = time.perf_counter()
                answer = engine.ask(question)
                call = recorder[0].calls[-1]
                app.append(
                    {
                        "ask_ttft": answer.seconds_to_first_token or float("nan"),
                        "ttft": call["first"],
                        "rate": (call["pieces"] - 1) / max(call["last"] - call["first"], 1e-9),
                        "prompt_tokens": call["prompt_tokens"],
                        "ask_seconds": time.perf_counter() - started,
                        "first_of_round": not peer_first,
                    }
                )
                if not peer_first:
                    asked[question] = call["messages"]
                    bare.reset()
                    peer.append(_bare(bare, call["messages"], settings.temperature))
        finally:
            bare.close()
            engine.close()
    _report(section, app, peer)
    return section


def _bare(llm: Any, messages: list[dict[str, str]], temperature: float) -> dict[str, float]:
    started = time.perf_counter()
    first = last = None
    pieces = 0
    stream = llm.create_chat_completion(
        messages=messages, max_tokens=ANSWER_TOKENS, temperature=temperature, seed=0, stream=True
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            now = time.perf_counter() - started
            first = now if first is None else first
            last = now
            pieces += 1
    if first is None or last is None:
        return {"ttft": float("nan"), "rate": float("nan")}
    return {"ttft": first, "rate": (pieces - 1) / max(last - first, 1e-9)}


def _report(section: Section, app: list[dict[str, float]], peer: list[dict[str, float]]) -> None:
    def med(rows: list[dict[str, float]], key: str) -> float:
        return median([row[key] for row in rows])

    ttft, bare_ttft = med(app, "ttft"), med(peer, "ttft")
    rate, bare_rate = med(app, "rate"), med(peer, "rate")
    ask_ttft = med(app, "ask_ttft")
    section.details.update(app=app, bare=peer, answer_tokens=ANSWER_TOKENS)
    section.add(
        f"time to first token, {med(app, 'prompt_tokens'):.0f}-token prompt (generator)",
        f"{ttft:.2f} s",
        f"{bare_ttft:.2f} s",
        bare_ttft / ttft,
        "overhead < 5 %",
        ttft <= bare_ttft * 1.05,
    )
    section.add(
        "answer tokens/s",
        f"{rate:.1f} tok/s",
        f"{bare_rate:.1f} tok/s",
        rate / bare_rate,
        "overhead < 5 %",
        rate >= bare_rate * 0.95,
    )
    section.add(
        "time to first token of Engine.ask at the default budget (retrieval included)",
        f"{ask_ttft:.2f} s",
        goal=f"< {GOAL_TTFT_S:.0f} s",
        met=ask_ttft < GOAL_TTFT_S,
    )


def _documents(folder: Path) -> Path:
    """A few Markdown notes: enough passages to fill the default prompt budget."""
    folder.mkdir(parents=True)
    rng = random.Random(5)
    for number in range(6):
        (folder / f"note-{number}.md").write_text(f"# Note {number}\n\n{prose(rng, 1800)}\n")
    return folder
