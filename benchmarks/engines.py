"""Embedding engines, each in its own process: ours (and variants of it), sentence-transformers
and llama.cpp. Separate processes keep their thread pools and OpenMP runtimes apart and give
each its own peak memory; the parent alternates requests between them."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EngineSpec:
    kind: str  # "app", "st" or "llama"
    model: str  # model folder (app, st) or GGUF file (llama)
    threads: int
    # App variants: OnnxEmbedder keyword arguments, and session options set on top.
    options: dict[str, Any] = field(default_factory=dict)
    session_config: dict[str, str] = field(default_factory=dict)
    optimization: str | None = None  # "basic", "extended", "all"
    memory_arena: bool | None = None  # onnxruntime's CPU arena, off in the app
    batch_size: int = 32  # sentence-transformers' encode() batch


class EngineProcess:
    """A child process holding one loaded engine; `embed` returns (seconds, tokens, vectors)."""

    def __init__(self, spec: EngineSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self.spec = spec
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, spec), daemon=True)
        self._process.start()
        child.close()
        self.load_seconds = float(self._receive())

    def embed(self, texts: list[str], batch_size: int | None = None) -> tuple[float, int, Any]:
        self._conn.send(("embed", texts, batch_size))
        seconds, tokens, vectors = self._receive()
        return float(seconds), int(tokens), np.asarray(vectors)

    def memory(self) -> dict[str, float]:
        self._conn.send(("memory",))
        return dict(self._receive())

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the child is gone already
            self._conn.send(("stop",))
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _receive(self) -> Any:
        reply = self._conn.recv()
        if isinstance(reply, tuple) and reply and reply[0] == "error":
            raise RuntimeError(f"{self.spec.kind} engine failed: {reply[1]}")
        return reply


def _serve(conn: Connection, spec: EngineSpec) -> None:
    # Thread counts must be fixed before torch or OpenMP start.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(spec.threads)
    try:
        started = time.perf_counter()
        engine = _load(spec)
        conn.send(time.perf_counter() - started)
    except Exception as exc:  # reported to the parent, which names the engine
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    from benchmarks.common import proc_status_mb

    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        if message[0] == "memory":
            conn.send(proc_status_mb())
            continue
        try:
            _, texts, batch_size = message
            started = time.perf_counter()
            vectors, tokens = engine(texts, batch_size or spec.batch_size)
            seconds = time.perf_counter() - started
            conn.send((seconds, tokens, np.asarray(vectors, dtype=np.float32)[:8]))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _load(spec: EngineSpec) -> Any:
    if spec.kind == "app":
        return _load_app(spec)
    if spec.kind == "st":
        return _load_st(spec)
    if spec.kind == "llama":
        return _load_llama(spec)
    raise ValueError(spec.kind)


def _load_app(spec: EngineSpec) -> Any:
    import onnxruntime as ort

    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder, create_session

    embedder = OnnxEmbedder(Path(spec.model), threads=spec.threads, **spec.options)
    if spec.session_config or spec.optimization or spec.memory_arena is not None:
        # Same graph, other session options: only what the variant names changes.
        levels = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        level = {k: v for k, v in spec.options.items() if k == "accuracy_level"}
        embedder.session = create_session(
            embedder.files.graph,
            spec.threads,
            config=spec.session_config,
            optimization=levels[spec.optimization or "all"],
            memory_arena=bool(spec.memory_arena),
            **level,
        )

    def run(texts: list[str], _: int) -> tuple[Any, int]:
        tokens = sum(embedder.count_tokens(t) for t in texts)
        return embedder.embed(texts), tokens

    return run


def _load_st(spec: EngineSpec) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(spec.threads)
    model = SentenceTransformer(spec.model, device="cpu")
    tokenizer = model.tokenizer

    def run(texts: list[str], batch_size: int) -> tuple[Any, int]:
        tokens = sum(len(ids) for ids in tokenizer(texts)["input_ids"])
        with torch.inference_mode():
            vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
        return vectors, tokens

    return run


def _load_llama(spec: EngineSpec) -> Any:
    from llama_cpp import Llama

    from embeddinggemma_rag.core.answering.generation import amx_repack_is_safe, model_params

    budget = int(spec.options.get("batch_tokens", 8192))
    # The peer as the app loads llama.cpp: without the AMX repacking that crashes in
    # llama_decode on CPUs with AMX (core/answering/generation.py).
    with model_params(amx_repack_is_safe()):
        llm = Llama(
            spec.model,
            embedding=True,
            n_ctx=budget,
            n_batch=budget,
            n_ubatch=budget,  # a non-causal model needs each whole sequence in one micro-batch
            n_threads=spec.threads,
            n_threads_batch=spec.threads,
            verbose=False,
        )

    def run(texts: list[str], _: int) -> tuple[Any, int]:
        vectors, tokens = llm.embed(texts, normalize=True, return_count=True)
        return vectors, tokens

    return run
