"""1. Embedding throughput: the app's batching against sentence-transformers and llama.cpp,
same weights, same texts, interleaved rounds; efficiency against a measured matmul peak."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.common import (
    Context,
    Section,
    ensure_embedding_model,
    fmt_rate,
    int8_matmul_peak_macs,
    load_average,
    log,
    matmul_peak_macs,
    median,
)
from benchmarks.corpus import exact_token_texts
from benchmarks.engines import EngineProcess, EngineSpec

SIZES = (32, 256, 512, 2048)
GOAL_SIZES = (256, 512)
DOCUMENT_PREFIX = "title: none | text: "
BATCH_TOKENS = 8192  # sentence-transformers' batch budget above 256 tokens per input
LLAMA = "llama.cpp Q8_0"


def macs_per_input(config: dict[str, Any], tokens: int) -> float:
    """Multiply-accumulates to embed one input of `tokens` tokens, as the graphs compute it.

    Projections and MLP per token in every layer, attention scores and values over the whole
    sequence (the exported graphs mask the sliding window rather than skip it), the Dense head
    once per input.
    """
    hidden = config["hidden_size"]
    heads, kv_heads, head_dim = (
        config["num_attention_heads"],
        config["num_key_value_heads"],
        config["head_dim"],
    )
    projections = hidden * head_dim * (2 * heads + 2 * kv_heads)
    mlp = 3 * hidden * config["intermediate_size"]
    layers = config["num_hidden_layers"]
    attention = 2 * heads * head_dim * tokens * tokens
    dense = 2 * hidden * 3072
    return layers * (tokens * (projections + mlp) + attention) + dense


def peer_batch_size(tokens: int) -> int:
    # sentence-transformers' default batch is 32; above 256 tokens it gets the app's budget,
    # or eager attention at 2048 tokens would need gigabytes.
    return max(1, min(32, BATCH_TOKENS // tokens))


def run(ctx: Context) -> Section:
    section = Section("embed", "Embedding throughput (tokens/s), same weights and texts")
    model = ensure_embedding_model()
    config = json.loads((model / "config.json").read_text())
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    counter = OnnxEmbedder(model, threads=1)
    specs = {"app": EngineSpec("app", str(model), ctx.threads)}
    st_dir = peers.sentence_transformers_model()
    specs["sentence-transformers"] = EngineSpec("st", str(st_dir), ctx.threads)
    gguf = peers.llama_cpp_model("Q8_0")
    engines = {name: EngineProcess(spec) for name, spec in specs.items()}
    peak = matmul_peak_macs()
    int8_peak = int8_matmul_peak_macs(ctx.threads)
    section.details.update(
        matmul_peak_gmacs=round(peak / 1e9, 1),
        int8_matmul_peak_gmacs=round(int8_peak / 1e9, 1),
        load_seconds={n: round(e.load_seconds, 2) for n, e in engines.items()},
        peer_models=peers.describe(),
        gguf=str(gguf) if gguf else "conversion failed: see bench-results/cache/peers",
    )
    # Short rounds, many of them: other work on the machine comes and goes, and a median of
    # alternating short runs is steadier than one long run each.
    budget = 2048
    results: dict[str, dict[str, Any]] = {}
    try:
        for tokens in SIZES:
            count = max(2, budget // tokens)
            texts = exact_token_texts(counter.count_tokens, DOCUMENT_PREFIX, tokens, count, tokens)
            inputs = [DOCUMENT_PREFIX + text for text in texts]
            rounds = ctx.repeats(5 if tokens in GOAL_SIZES else 3, 2)
            log(f"embed: {count} inputs of {tokens} tokens, {rounds} rounds, load {load_average()}")
            here = dict(engines)
            if gguf is not None:
                # llama-cpp-python embeds with one KV buffer shared by all sequences of a batch,
                # so every token attends over the whole context: the peer gets its best
                # context for this input length, not one size for all.
                budget_llama = max(tokens, 512)
                spec = EngineSpec("llama", str(gguf), ctx.threads, {"batch_tokens": budget_llama})
                here[LLAMA] = EngineProcess(spec)
            try:
                results[str(tokens)] = _measure(here, inputs, tokens, rounds, config, peak)
            finally:
                if LLAMA in here:
                    here[LLAMA].close()
    finally:
        memory = {name: engine.memory() for name, engine in engines.items()}
        for engine in engines.values():
            engine.close()
    section.details.update(results=results, engine_memory_mb=memory)
    if ctx.threads > 1:
        # One thread each too: on a shared machine a peer whose threads spin (torch) is
        # starved more than onnxruntime, so the all-thread ratio alone can flatter us.
        single = {
            name: EngineProcess(EngineSpec(spec.kind, spec.model, 1))
            for name, spec in specs.items()
        }
        try:
            for tokens in GOAL_SIZES:
                count = max(2, budget // tokens)
                texts = exact_token_texts(
                    counter.count_tokens, DOCUMENT_PREFIX, tokens, count, tokens
                )
                inputs = [DOCUMENT_PREFIX + text for text in texts]
                log(f"embed, 1 thread: {count} inputs of {tokens} tokens, load {load_average()}")
                results[f"{tokens}, 1 thread"] = _measure(
                    single, inputs, tokens, ctx.repeats(3, 1), config, peak
                )
        finally:
            for engine in single.values():
                engine.close()
    section.details["same_weights"] = peers.same_weights_check(ctx.threads)
    _rows(section, results, int8_peak)
    return section


def _measure(
    engines: dict[str, EngineProcess],
    inputs: list[str],
    tokens: int,
    rounds: int,
    config: dict[str, Any],
    peak: float,
) -> dict[str, Any]:
    batch = peer_batch_size(tokens)
    vectors: dict[str, np.ndarray] = {}
    # Warm-up: first runs allocate and pack. A whole round, so that the first timed one does
    # not meet a batch shape for the first time (with a quarter of the inputs as warm-up, the
    # app's first 512-token round ran 20 % below the others).
    for name, engine in engines.items():
        _, _, vectors[name] = engine.embed(inputs, batch)
    times: dict[str, list[float]] = {name: [] for name in engines}
    counted: dict[str, int] = {}
    names = list(engines)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, counted[name], _ = engines[name].embed(inputs, batch)
            times[name].append(seconds)
    out: dict[str, Any] = {"inputs": len(inputs), "load": load_average()}
    for name in names:
        seconds = median(times[name])
        rate = counted[name] / seconds
        macs = macs_per_input(config, counted[name] // len(inputs)) * len(inputs) / seconds
        out[name] = {
            "tokens_per_s": round(rate, 1),
            "chunks_per_s": round(len(inputs) / seconds, 2),
            "seconds": [round(t, 3) for t in times[name]],
            "tokens": counted[name],
            "efficiency": round(macs / peak, 3),
            "macs_per_s": round(macs),
        }
    reference = vectors.get("sentence-transformers")
    if reference is not None:
        for name, matrix in vectors.items():
            count = min(len(matrix), len(reference))
            cosines = np.sum(_unit(matrix[:count]) * _unit(reference[:count]), axis=1)
            out[name]["cosine_to_sentence_transformers"] = round(float(cosines.mean()), 4)
    return out


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _rows(section: Section, results: dict[str, dict[str, Any]], int8_peak: float) -> None:
    for tokens, result in results.items():
        app = result["app"]["tokens_per_s"]
        st = result["sentence-transformers"]["tokens_per_s"]
        goal_size = tokens.isdigit() and int(tokens) in GOAL_SIZES
        section.add(
            f"embed {tokens} tok/input vs sentence-transformers",
            f"{fmt_rate(app, 'tok/s')}{_fidelity(result['app'])} "
            f"({result['app']['efficiency']:.0%} of the fp32 peak, "
            f"{result['app']['macs_per_s'] / int8_peak:.0%} of the int8 peak)",
            f"{fmt_rate(st, 'tok/s')} ({result['sentence-transformers']['efficiency']:.0%})",
            app / st,
            "≥ 2×" if goal_size else "",
            app / st >= 2 if goal_size else None,
        )
        llama = result.get(LLAMA)
        if llama:
            section.add(
                f"embed {tokens} tok/input vs llama.cpp Q8_0",
                fmt_rate(app, "tok/s") + _fidelity(result["app"]),
                fmt_rate(llama["tokens_per_s"], "tok/s") + _fidelity(llama),
                app / llama["tokens_per_s"],
                "> 1×",
                app > llama["tokens_per_s"],
            )


def _fidelity(figures: dict[str, Any]) -> str:
    """Beside every speed: how close the vectors behind it are to sentence-transformers'."""
    cosine = figures.get("cosine_to_sentence_transformers")
    return "" if cosine is None else f", cosine {cosine:.3f} to sentence-transformers"
