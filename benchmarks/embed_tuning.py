"""1b. What makes our embedding fast: onnxruntime settings and batching, each variant of the
app's embedder against the app's defaults, interleaved on the same texts."""

from __future__ import annotations

import random
from typing import Any

from benchmarks.common import (
    FULL_EMBEDDING,
    Context,
    Section,
    ensure_embedding_model,
    fmt_rate,
    load_average,
    log,
    median,
)
from benchmarks.corpus import exact_token_texts, prose
from benchmarks.embed_speed import DOCUMENT_PREFIX
from benchmarks.engines import EngineProcess, EngineSpec

FUSED = FULL_EMBEDDING.with_name(FULL_EMBEDDING.name + "-fused")
SPIN = {"session.intra_op.allow_spinning": "1"}


def variants(ctx: Context) -> dict[str, EngineSpec]:
    model = str(ensure_embedding_model())
    t = ctx.threads
    specs = {
        "app defaults": EngineSpec("app", model, t),
        "accuracy_level 0, as published (fp32 compute)": EngineSpec(
            "app", model, t, options={"accuracy_level": None}
        ),
        "1 thread": EngineSpec("app", model, 1),
        "spinning threads": EngineSpec("app", model, t, session_config=SPIN),
        "graph optimisation basic": EngineSpec("app", model, t, optimization="basic"),
        "memory arena on (the old setting)": EngineSpec("app", model, t, memory_arena=True),
        "batch 8192 tokens (the old default)": EngineSpec(
            "app", model, t, options={"batch_tokens": 8192}
        ),
        "batch 2048 tokens": EngineSpec("app", model, t, options={"batch_tokens": 2048}),
    }
    if ctx.quick:
        specs = {k: v for k, v in specs.items() if k in ("app defaults", "1 thread")} | {
            "accuracy_level 0, as published (fp32 compute)": specs[
                "accuracy_level 0, as published (fp32 compute)"
            ]
        }
    if (FUSED / "onnx" / "model_q4.onnx_data").exists():
        # Offline step only (`generate_embedding_model --fuse`): onnxscript's fusions
        # (MultiHeadAttention, SimplifiedLayerNormalization, FastGelu), as the published
        # graph already has its attention fused.
        specs["fused graph (offline onnxscript)"] = EngineSpec("app", str(FUSED), t)
    return specs


def run(ctx: Context) -> Section:
    section = Section("embed-tuning", "Embedding: onnxruntime settings and batching")
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    model = ensure_embedding_model()
    counter = OnnxEmbedder(model, threads=1)
    section.details["padding"] = padding_waste(counter)
    specs = variants(ctx)
    tokens = 512
    count = 8  # 4,096 tokens: one batch at the largest budget tried, four at the default
    texts = exact_token_texts(counter.count_tokens, DOCUMENT_PREFIX, tokens, count, 7)
    inputs = [DOCUMENT_PREFIX + text for text in texts]
    engines = {name: EngineProcess(spec) for name, spec in specs.items()}
    times: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for engine in engines.values():
            engine.embed(inputs[:2])
        names = list(engines)
        for round_ in range(ctx.repeats(3, 2)):
            log(f"embed tuning round {round_ + 1}, load {load_average()}")
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(engines[name].embed(inputs)[0])
        memory = {name: engine.memory() for name, engine in engines.items()}
    finally:
        for engine in engines.values():
            engine.close()
    base = median(times["app defaults"])
    results: dict[str, Any] = {}
    for name, values in times.items():
        rate = tokens * len(inputs) / median(values)
        results[name] = {
            "tokens_per_s": round(rate, 1),
            "vs_defaults": round(base / median(values), 3),
            "seconds": [round(v, 3) for v in values],
            "peak_rss_mb": round(memory[name].get("VmHWM", 0.0)),
        }
        if name != "app defaults":
            section.add(
                f"512 tok/input: {name}",
                fmt_rate(rate, "tok/s"),
                fmt_rate(tokens * len(inputs) / base, "tok/s (defaults)"),
                base / median(values),
            )
    section.details["variants"] = results
    section.details["inputs"] = {"tokens": tokens, "count": len(inputs)}
    return section


def padding_waste(embedder: Any) -> dict[str, float]:
    """Share of computed tokens that are padding, for chunk lengths as the chunker makes them
    at the app's chunk size (most near the limit, ends of sections shorter): length-sorted
    batches, as the app makes them, against arrival order."""
    from embeddinggemma_rag.core.intake.chunking import chunk_document
    from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
    from embeddinggemma_rag.core.models.embedding import _batches_by_tokens
    from embeddinggemma_rag.core.settings import Settings

    defaults = Settings()
    size, gap = defaults.chunk_tokens, defaults.chunk_overlap_tokens
    rng = random.Random(3)
    lengths: list[int] = []
    for _ in range(12):
        pages = tuple(PageText(n + 1, prose(rng, rng.randint(300, 4000))) for n in range(4))
        chunks = chunk_document(ParsedDocument("t", pages), "t", embedder.count_tokens, size, gap)
        lengths += [chunk.token_count for chunk in chunks]

    rows = [[0] * n for n in lengths]  # what the batcher sees: token ids per input
    real = sum(lengths)

    def waste(order: list[int]) -> float:
        batches = _batches_by_tokens(order, rows, embedder.batch_tokens)
        padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        return round(1 - real / padded, 4)

    arrival = list(range(len(lengths)))
    return {
        "chunks": len(lengths),
        "mean_tokens": round(real / len(lengths), 1),
        "sorted": waste(sorted(arrival, key=lengths.__getitem__)),
        "arrival_order": waste(arrival),
    }
