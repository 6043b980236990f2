"""2. Embedder memory: peak RSS of a fresh process embedding batches of 512-token inputs with
the real-size (262,144-token) tokenizer, ours against sentence-transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks import peers
from benchmarks.common import REPO, Context, Section, ensure_embedding_model, log
from benchmarks.embed_speed import DOCUMENT_PREFIX

GOAL_MB = 400
INPUTS = 32  # two or more batches at any budget, so steady state and peak both show


def run(ctx: Context) -> Section:
    section = Section("memory", "Embedder memory while embedding 512-token inputs")
    model = ensure_embedding_model()
    app = _child("app", str(model), ctx.threads)
    section.details["app"] = app
    peer: dict[str, Any] | None = None
    if not ctx.quick:
        peer = _child("st", str(peers.sentence_transformers_model()), ctx.threads)
        section.details["sentence-transformers"] = peer
    section.add(
        "embedder peak RSS, 512-token inputs",
        f"{app['peak_mb']:.0f} MB",
        f"{peer['peak_mb']:.0f} MB" if peer else "",
        peer["peak_mb"] / app["peak_mb"] if peer else None,
        f"< {GOAL_MB} MB",
        app["peak_mb"] < GOAL_MB,
    )
    return section


def _child(kind: str, model: str, threads: int) -> dict[str, Any]:
    log(f"memory: {kind} in a fresh process")
    command = [sys.executable, "-m", "benchmarks.embed_memory", kind, model, str(threads)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _measure(kind: str, model: str, threads: int) -> dict[str, Any]:
    """Runs in the child: RSS after each stage, and the process's peak (VmHWM) at the end."""
    from benchmarks.common import proc_status_mb
    from benchmarks.corpus import exact_token_texts

    stages: dict[str, float] = {"start": proc_status_mb()["VmRSS"]}
    if kind == "app":
        from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

        stages["imports"] = proc_status_mb()["VmRSS"]
        embedder = OnnxEmbedder(model, threads=threads)
        stages["loaded"] = proc_status_mb()["VmRSS"]
        count, embed = embedder.count_tokens, embedder.embed
        batch = embedder.batch_tokens
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        stages["imports"] = proc_status_mb()["VmRSS"]
        st = SentenceTransformer(model, device="cpu")
        stages["loaded"] = proc_status_mb()["VmRSS"]

        def count(text: str) -> int:
            return len(st.tokenizer(text)["input_ids"])

        def embed(texts: list[str]) -> Any:
            with torch.inference_mode():
                return st.encode(texts, batch_size=16)

        batch = 16 * 512
    texts = exact_token_texts(count, DOCUMENT_PREFIX, 512, INPUTS, 11)
    before = proc_status_mb()
    embed([DOCUMENT_PREFIX + text for text in texts])
    after = proc_status_mb()
    stages["after_embedding"] = after["VmRSS"]
    # onnxruntime maps the weights file: pages of the embedding table become resident as
    # texts use their tokens. They are the file's cached pages, shared and reclaimable, not
    # memory the process allocated: RSS counts them, so both parts are reported.
    stages["after_embedding_file_backed"] = after["RssFile"]
    stages["after_embedding_anonymous"] = after["RssAnon"]
    return {
        "stages_mb": {k: round(v) for k, v in stages.items()},
        "peak_before_embedding_mb": round(before["VmHWM"]),
        "peak_mb": round(after["VmHWM"]),
        "batch_tokens": batch,
        "inputs": INPUTS,
    }


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
