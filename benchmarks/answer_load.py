"""Answering on a busy machine: the app's answer process against llama-cpp-python in process.

A user's machine is rarely idle: an ingest, a browser, a build. llama.cpp's OpenMP threads
spin while they wait for each other, and on a shared core they spin against that work. This
section answers the same prompt (the app's own, at the default size) with
- `in-process`: llama-cpp-python as a library normally runs (OpenMP's default waiting), and
- `app`: the app's `ProcessChatModel` (its own process, a short spin, as many threads as
  other programs leave cores free: `core/cpu_share.py`),
each at 1 and 2 threads, on an idle machine and beside one competing CPU-bound job of two
threads, and reports time to first token and tokens/s. Each variant runs in a fresh process,
since OpenMP reads its wait policy once, when it loads.

It uses the real SmolLM2-135M-Instruct when `../shared/real-models/fetch.sh` has fetched it,
else the generated full-size Gemma-3-1B.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def chat_model() -> Path:
    return REAL_CHAT if REAL_CHAT.exists() else ensure_chat_model()


def run(ctx: Context) -> Section:
    section = Section("answer_load", "Answering beside other work: the app's process vs in process")
    model = chat_model()
    rounds = ctx.repeats(3)
    results: dict[str, dict[str, float]] = {}
    for busy in (False, True):
        burners = [_start_burner() for _ in range(_BURNERS if busy else 0)]
        try:
            for variant in ("in-process", "app"):
                for threads in (1, 2):
                    key = f"{variant}|{threads}|{'busy' if busy else 'idle'}"
                    runs = [_measure(model, variant, threads) for _ in range(rounds)]
                    results[key] = {
                        "ttft": median([r["ttft"] for r in runs]),
                        "rate": median([r["rate"] for r in runs]),
                        "load": load_average(),
                    }
                    log(f"{key}: {results[key]}")
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
    section.details.update(model=str(model), results=results)
    for variant in ("in-process", "app"):
        for threads in (1, 2):
            idle = results[f"{variant}|{threads}|idle"]
            busy = results[f"{variant}|{threads}|busy"]
            slowdown = idle["rate"] / busy["rate"]
            section.add(
                f"{variant}, {threads} thread(s): tokens/s idle / busy, first token idle / busy",
                f"{idle['rate']:.1f} / {busy['rate']:.1f} tok/s, "
                f"{idle['ttft']:.2f} / {busy['ttft']:.2f} s",
                ratio=1 / slowdown,
                goal=f"busy >= idle / {GOAL_SLOWDOWN:g}" if variant == "app" else "",
                met=slowdown <= GOAL_SLOWDOWN if variant == "app" else None,
            )
    return section


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
    from embeddinggemma_rag.core.bench import measure_answer
    from embeddinggemma_rag.core.chat_process import ProcessChatModel
    from embeddinggemma_rag.core.generation import LlamaGenerator
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
    print(json.dumps(_one_answer(Path(path), kind, count)))
