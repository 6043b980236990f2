"""Answering on a busy machine: the app's answer process against llama-cpp-python in process.

A user's machine is rarely idle: an ingest, a browser, a build. llama.cpp's OpenMP threads
spin while they wait for each other, and on a shared core they spin against that work. This
section answers the same prompt (the app's own, at the default size) with
- `in-process`: llama-cpp-python as a library normally runs (OpenMP's default waiting), and
- `app`: the app's `ProcessChatModel` (its own process, a short spin, as many threads as
  other programs leave cores free: `core/cpu_share.py`),
each at 1 and 2 threads, on an idle machine and beside one competing CPU-bound job of two
threads, and reports time to first token and tokens/s. Each variant runs in a fresh process,
since OpenMP reads its wait policy once, when it loads, and the variants take turns round by
round. The idle rows at two threads also give the answer process's own cost against
llama-cpp-python in process (goal: under 5 %).

A last row asks through `Engine.ask` while the same engine ingests a folder, the case of a
person asking while their documents are indexed: the ingest steps aside at its next batch
(`core/answering/answer_priority.py`).

It uses the real SmolLM2-135M-Instruct when `../shared/real-models/fetch.sh` has fetched it,
else the generated full-size Gemma-3-1B.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Context, Section, ensure_chat_model, load_average, log, median

REAL_CHAT = (
    Path(
        os.environ.get(
            "EMBEDDINGGEMMA_RAG_REAL_MODELS", Path.home() / ".cache/embeddinggemma-rag/real-models"
        )
    )
    / "SmolLM2-135M-Instruct.Q4_1.gguf"
)
GOAL_SLOWDOWN = 2.0  # at most 2x slower beside one competing two-thread job
OVERHEAD_GOAL = 0.05  # the answer process against llama-cpp-python in process, idle
_BURNER = (
    "import threading, time\n"
    "def burn():\n"
    "    x = 0\n"
    "    while True:\n"
    "        x += 1\n"
    "for _ in range(2): threading.Thread(target=burn, daemon=True).start()\n"
    "time.sleep(3600)\n"
)
# Python threads share the GIL: two burner *processes* keep two cores busy.
_BURNERS = 2
_INGEST_FILES = 300  # about 3,000 chunks: minutes of embedding, far longer than the answers
_OWN_INGEST_QUESTIONS = [
    "What does the text say about the boiler?",
    "Which clause mentions the invoice?",
    "What happens to the kettle in winter?",
]


def chat_model() -> Path:
    return REAL_CHAT if REAL_CHAT.exists() else ensure_chat_model()


def run(ctx: Context) -> Section:
    section = Section("answer_load", "Answering beside other work: the app's process vs in process")
    model = chat_model()
    rounds = ctx.repeats(5)
    variants = [(variant, threads) for variant in ("in-process", "app") for threads in (1, 2)]
    results: dict[str, dict[str, Any]] = {}
    for busy in (False, True):
        burners = [_start_burner() for _ in range(_BURNERS if busy else 0)]
        state = "busy" if busy else "idle"
        runs: dict[str, list[dict[str, float]]] = {}
        try:
            # Round robin, the order turning each round: this machine's speed drifts by 10 %
            # or more within minutes, and a block of one variant's runs would carry the drift
            # into the comparison.
            for round_ in range(rounds):
                shift = round_ % len(variants)
                for variant, threads in variants[shift:] + variants[:shift]:
                    key = f"{variant}|{threads}|{state}"
                    runs.setdefault(key, []).append(_measure(model, variant, threads))
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        load = load_average()  # one reading for the phase: its variants ran interleaved
        for key, measured in runs.items():
            results[key] = {
                "ttft": median([r["ttft"] for r in measured]),
                "rate": median([r["rate"] for r in measured]),
                "rates": [round(r["rate"], 1) for r in measured],
                "load": load,
            }
            log(f"{key}: {results[key]}")
    own = _measure(model, "own-ingest", ctx.threads)
    results["app|beside its own ingest"] = own
    log(f"beside its own ingest: {own}")
    section.details.update(model=str(model), results=results)
    for variant in ("in-process", "app"):
        for threads in (1, 2):
            quiet = results[f"{variant}|{threads}|idle"]
            loaded = results[f"{variant}|{threads}|busy"]
            slowdown = quiet["rate"] / loaded["rate"]
            section.add(
                f"{variant}, {threads} thread(s): tokens/s idle / busy, first token idle / busy",
                f"{quiet['rate']:.1f} / {loaded['rate']:.1f} tok/s, "
                f"{quiet['ttft']:.2f} / {loaded['ttft']:.2f} s",
                ratio=1 / slowdown,
                goal=f"busy >= idle / {GOAL_SLOWDOWN:g}" if variant == "app" else "",
                met=slowdown <= GOAL_SLOWDOWN if variant == "app" else None,
            )
    # The answer process's own cost on an idle machine, from the alternating runs above.
    threads = min(ctx.threads, 2)  # the variants above run 1 and 2 threads
    app, peer = results[f"app|{threads}|idle"], results[f"in-process|{threads}|idle"]
    rate_ratio, ttft_ratio = app["rate"] / peer["rate"], peer["ttft"] / app["ttft"]
    section.add(
        f"idle, {threads} thread(s), alternating fresh processes: the answer process "
        "against llama-cpp-python in process, tokens/s and first token",
        f"{app['rate']:.1f} tok/s, {app['ttft']:.2f} s",
        f"{peer['rate']:.1f} tok/s, {peer['ttft']:.2f} s",
        ratio=rate_ratio,
        goal="overhead < 5 %",
        met=min(rate_ratio, ttft_ratio) >= 1 - OVERHEAD_GOAL,
    )
    section.add(
        f"app, {ctx.threads} thread(s), Engine.ask while the same engine ingests: tokens/s "
        "idle / ingesting, first token idle / ingesting",
        f"{own['idle_rate']:.1f} / {own['busy_rate']:.1f} tok/s, "
        f"{own['idle_ttft']:.2f} / {own['busy_ttft']:.2f} s",
        ratio=own["busy_rate"] / own["idle_rate"],
        goal=f"busy >= idle / {GOAL_SLOWDOWN:g}",
        met=own["idle_rate"] / own["busy_rate"] <= GOAL_SLOWDOWN,
    )
    return section


def _answers_beside_own_ingest(model: Path, threads: int) -> dict[str, float]:
    """In a fresh process: answers through Engine.ask on an idle engine, then while the
    same engine ingests a folder of generated prose."""
    from benchmarks.common import ensure_embedding_model
    from benchmarks.corpus import prose
    from embeddinggemma_rag.core.cancel import CancelToken
    from embeddinggemma_rag.core.engine import build_engine
    from embeddinggemma_rag.core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-own-ingest-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        rng = random.Random(5)
        for n in range(_INGEST_FILES):
            (docs / f"note-{n:03}.md").write_text(f"# Note {n}\n\n{prose(rng, 6_000)}\n")
        settings = Settings(
            data_dir=Path(tmp) / "library",
            embedding_model=ensure_embedding_model(),
            generator_model=model,
            threads=threads,
        )
        engine = build_engine(settings)
        engine.relevance_threshold = -1.0  # generated prose: answer whatever is found
        try:
            engine.ingest([docs / "note-000.md"])
            _timed_ask(engine, "What is the first note about?")  # loads the answer model
            idle = [_timed_ask(engine, q) for q in _OWN_INGEST_QUESTIONS]
            cancel = CancelToken()
            embedding = threading.Event()

            def ingest() -> None:
                engine.ingest(
                    [docs],
                    cancel,
                    on_progress=lambda p: embedding.set() if p.chunks_done else None,
                )

            worker = threading.Thread(target=ingest)
            worker.start()
            try:
                embedding.wait(120)
                busy = []
                for question in _OWN_INGEST_QUESTIONS:
                    time.sleep(2.0)  # the ingest back at full speed between questions
                    busy.append(_timed_ask(engine, question + " Say more."))
            finally:
                cancel.cancel()
                worker.join()
        finally:
            engine.close()
    return {
        "idle_ttft": median([r["ttft"] for r in idle]),
        "idle_rate": median([r["rate"] for r in idle]),
        "busy_ttft": median([r["ttft"] for r in busy]),
        "busy_rate": median([r["rate"] for r in busy]),
    }


def _timed_ask(engine: Any, question: str) -> dict[str, float]:
    engine.generator.forget_prompt()  # every answer reads its prompt from the start
    stamps: list[float] = []
    answer = engine.ask(question, on_token=lambda _: stamps.append(time.perf_counter()))
    rate = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9) if len(stamps) > 1 else 0.0
    return {"ttft": answer.seconds_to_first_token or float("nan"), "rate": rate}


def _start_burner() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _BURNER])


def _measure(model: Path, variant: str, threads: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.answer_load", str(model), variant, str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _one_answer(model: Path, variant: str, threads: int) -> dict[str, float]:
    """In a fresh process: load the model, answer the app's default-size prompt once."""
    from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
    from embeddinggemma_rag.core.answering.generation import LlamaGenerator
    from embeddinggemma_rag.core.bench import measure_answer
    from embeddinggemma_rag.core.settings import Settings

    settings = Settings(threads=threads)
    maker = ProcessChatModel if variant == "app" else LlamaGenerator
    generator = maker(model, settings.context_tokens, threads)
    try:
        speed = measure_answer(generator, settings)
    finally:
        generator.close()
    return {"ttft": speed.seconds_to_first_token, "rate": speed.tokens_per_second}


if __name__ == "__main__":
    path, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "own-ingest":
        print(json.dumps(_answers_beside_own_ingest(Path(path), count)))
    else:
        print(json.dumps(_one_answer(Path(path), kind, count)))
