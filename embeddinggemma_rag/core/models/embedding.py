"""EmbeddingGemma through onnxruntime: prompts, batching by length, Matryoshka cuts."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.cancel import (
    NEVER_CANCELLED,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.models import compute_choice, model_files, onnx_graph
from embeddinggemma_rag.core.models.prompts import QUERY_PROMPT, document_prompt, load_prompts
from embeddinggemma_rag.core.models.tokenizer_file import load_tokenizer
from embeddinggemma_rag.core.settings import MAX_MODEL_TOKENS

FULL_DIMENSION = 768
PAD_ID = 0
# Tokens in one batch (rows x longest row). onnxruntime's activations peak at about 70 KB per
# token of a batch with this graph, so 8192 tokens cost about 600 MB on top of the model;
# 1024 keeps the embedder under 400 MB with 512-token chunks, and matrix products of 1024
# rows already run at full speed (benchmarks/embed_tuning.py; README, Performance).
DEFAULT_BATCH_TOKENS = 1024
MAX_BATCH_ROWS = 64
# The chunker counts every finished chunk twice (fitting it, then recording its size) and
# tokenising is most of chunking's time: the second count is a dictionary hit. A few MB at most.
_COUNT_CACHE_SIZE = 4096
# MatMulNBits `accuracy_level` 4: the 4-bit weights are multiplied with int8 activations
# (VNNI / AVX2 / NEON dot products) instead of fp32. Measured on the full-size model: faster
# by the figure in README's Performance section, cosine to the default path >= 0.9999.
INT8_ACCURACY_LEVEL = 4
AUTO = "auto"

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """What ingestion and search need from an embedding model."""

    model_id: str
    max_tokens: int

    def count_tokens(self, model_input: str) -> int: ...

    def count_tokens_many(self, model_inputs: Sequence[str]) -> list[int]: ...

    def document_input(self, title: str | None, text: str) -> str: ...

    def query_input(self, text: str) -> str: ...

    def prompt_input(self, prompt_name: str, text: str, title: str | None = None) -> str: ...

    def embed(
        self,
        model_inputs: Sequence[str],
        cancel: CancelToken = ...,
        progress: ProgressCallback = ...,
    ) -> Vectors: ...


class OnnxEmbedder:
    """EmbeddingGemma's ONNX export run by onnxruntime, tokenised by its own tokenizer.json."""

    max_tokens = MAX_MODEL_TOKENS

    def __init__(
        self,
        model_dir: Path,
        threads: int | None = None,
        graph_name: str = model_files.EMBEDDING_GRAPH,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        *,
        accuracy_level: int | str | None = AUTO,
    ) -> None:
        """`accuracy_level`: AUTO measures which is faster on this CPU the first time (see
        core/models/compute_choice.py); a number or None forces one."""
        self.files = model_files.locate_embedding_model(model_dir, graph_name)
        self.prompts = load_prompts(self.files.root)
        self.batch_tokens = batch_tokens
        self.tokenizer = self._load_tokenizer(self.files.tokenizer)
        self._check_vocabulary()
        self._counts: dict[str, int] = {}
        self.model_id = self._model_id()
        threads = threads or paths.physical_cores()
        self.compute: compute_choice.ComputeChoice | None = None
        if accuracy_level == AUTO and onnx_graph.has_nbits_matmuls(self.files.graph):
            self.compute, session = compute_choice.choose(
                self.model_id,
                threads,
                paths.cache_dir() / "compute-choice.json",
                lambda level: create_session(self.files.graph, threads, accuracy_level=level),
                self._timing_sample(),
            )
            self.session: ort.InferenceSession = session  # type: ignore[assignment]
        else:
            level = INT8_ACCURACY_LEVEL if accuracy_level == AUTO else accuracy_level
            assert level is None or isinstance(level, int)
            self.session = create_session(self.files.graph, threads, accuracy_level=level)
        self._threads = threads

    @property
    def compute_way(self) -> str | None:
        """Which of `compute_choice.CANDIDATES` this embedder runs; None when it was not
        chosen by measurement (a graph without 4-bit MatMuls, or a level forced by a caller)."""
        return self.compute.label if self.compute is not None else None

    def use_compute_way(self, label: str) -> bool:
        """Run the graph the way `label` names from now on; False when that is not one of
        this embedder's ways (nothing changes then).

        The two ways give slightly different vectors (cosine about 0.999), enough to swap
        two near-equal passages. A library's passages were embedded one way, so its
        questions must be too, even when this machine's measurement now prefers the other
        (a cleared cache, a new onnxruntime, a noisy first measurement)."""
        if self.compute is None or label not in compute_choice.CANDIDATES:
            return False
        if label != self.compute.label:
            level = compute_choice.CANDIDATES[label]
            self.session = create_session(self.files.graph, self._threads, accuracy_level=level)
            self.compute = dataclasses.replace(
                self.compute, label=label, accuracy_level=level, measured_now=False
            )
        return True

    def _timing_sample(self) -> dict[str, np.ndarray]:
        """A batch of real text the size of an ingest's, to time this CPU's kernels on."""
        text = (
            "The boiler restarts on its own after a short power cut. After a long one, open "
            "the front panel, hold the reset button for five seconds and wait for the light. "
        )
        ids = self.tokenizer.encode(document_prompt(None) + text * 40).ids
        ids = ids[: compute_choice.SAMPLE_TOKENS]
        batch = np.array([ids] * compute_choice.SAMPLE_ROWS, dtype=np.int64)
        return {"input_ids": batch, "attention_mask": np.ones_like(batch)}

    @staticmethod
    def _load_tokenizer(path: Path) -> Tokenizer:
        try:
            tokenizer = load_tokenizer(path, paths.cache_dir() / "tokenizers")
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(path, f"is not a valid tokenizer ({exc})") from exc
        # The tokenizer's own template adds <bos>/<eos>. It is never reconfigured after
        # loading (truncation is done on the ids in `_model_ids`): searches and an ingest use
        # it from several threads at once, and toggling its settings would race.
        tokenizer.no_truncation()
        tokenizer.no_padding()  # batches are padded here, on the right, after sorting by length
        _release_freed_memory()
        return tokenizer

    def _check_vocabulary(self) -> None:
        """A tokenizer.json of another model gives ids the graph maps to the wrong rows, or
        past its table (onnxruntime's 4-bit Gather does not check): vectors of nonsense."""
        rows = onnx_graph.embedding_rows(self.files.graph)
        tokens = self.tokenizer.get_vocab_size(with_added_tokens=False)
        if rows is not None and rows != tokens:
            raise ModelError(
                self.files.tokenizer,
                f"does not belong to {self.files.graph.name}: it has {tokens:,} tokens, the "
                f"graph's embedding table {rows:,} (a tokenizer.json of another model?)",
                hint="Put the model's own tokenizer.json beside its onnx folder, or import the "
                "model again with `embeddinggemma-rag models import PATH`.",
            )

    def _model_id(self) -> str:
        """Identifies the weights, so a library never mixes vectors of two models."""
        cache = paths.config_dir() / "hash-cache.json"
        digest = hashlib.sha256()
        for path in (self.files.graph, self.files.external_data, self.files.tokenizer):
            if path.exists():
                digest.update(model_files.file_sha256(path, cache).encode())
        return "sha256:" + digest.hexdigest()[:32]

    # Prompts ---------------------------------------------------------------------------

    @staticmethod
    def document_input(title: str | None, text: str) -> str:
        return document_prompt(title) + text

    @staticmethod
    def query_input(text: str) -> str:
        return QUERY_PROMPT + text

    def prompt_input(self, prompt_name: str, text: str, title: str | None = None) -> str:
        """Model input for a named prompt of the model card (`query`, `document`, `STS`...)."""
        if prompt_name == "document":
            return self.document_input(title, text)
        if prompt_name not in self.prompts:
            known = ", ".join(sorted(self.prompts))
            raise ValueError(f"unknown prompt {prompt_name!r}; known prompts: {known}")
        return self.prompts[prompt_name] + text

    # Tokens and vectors ---------------------------------------------------------------

    def count_tokens(self, model_input: str) -> int:
        """Tokens of a full model input, <bos>/<eos> included (not truncated)."""
        return self.count_tokens_many([model_input])[0]

    def count_tokens_many(self, model_inputs: Sequence[str]) -> list[int]:
        """`count_tokens` of each input, tokenised in one call: the chunker counts every
        sentence of a page, and one call per sentence cost 2.3x the time (19 against 8 us a
        sentence with the real 262k vocabulary): `encode_batch_fast` computes no offsets and
        crosses into Rust once."""
        counts = self._counts
        known: dict[str, int] = {}
        missing: list[str] = []
        for text in dict.fromkeys(model_inputs):
            count = counts.get(text)  # read once: another thread may clear the cache
            if count is None:
                missing.append(text)
            else:
                known[text] = count
        if missing:
            encodings = self.tokenizer.encode_batch_fast(missing)
            fresh = {text: len(e.ids) for text, e in zip(missing, encodings, strict=True)}
            if len(counts) + len(fresh) > _COUNT_CACHE_SIZE:
                counts.clear()  # crude, but safe from any thread; refills in one page
            counts.update(fresh)
            known.update(fresh)
        return [known[text] for text in model_inputs]

    def embed(
        self,
        model_inputs: Sequence[str],
        cancel: CancelToken = NEVER_CANCELLED,
        progress: ProgressCallback = ignore_progress,
        dimension: int = FULL_DIMENSION,
    ) -> Vectors:
        """Unit vectors for full model inputs (prompt included), in input order."""
        result = np.zeros((len(model_inputs), dimension), dtype=np.float32)
        done = 0
        for indices, vectors in self.iter_batches(model_inputs, cancel, dimension):
            result[indices] = vectors
            done += len(indices)
            progress(Progress(done, len(model_inputs), "texts"))
        return result

    def embed_queries(self, texts: Sequence[str], dimension: int = FULL_DIMENSION) -> Vectors:
        return self.embed([self.query_input(t) for t in texts], dimension=dimension)

    def embed_documents(
        self,
        documents: Sequence[tuple[str | None, str]],
        dimension: int = FULL_DIMENSION,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> Vectors:
        inputs = [self.document_input(title, text) for title, text in documents]
        return self.embed(inputs, cancel, dimension=dimension)

    def iter_batches(
        self,
        model_inputs: Sequence[str],
        cancel: CancelToken = NEVER_CANCELLED,
        dimension: int = FULL_DIMENSION,
    ) -> Iterator[tuple[npt.NDArray[np.int64], Vectors]]:
        """Yield (input indices, vectors) batch by batch; cancellation is checked between."""
        rows = [_model_ids(e) for e in self.tokenizer.encode_batch(list(model_inputs))]
        # Sorting by length puts similar lengths together, so little compute goes to padding.
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        for batch in _batches_by_tokens(order, rows, self.batch_tokens):
            cancel.raise_if_cancelled()
            vectors = self._run([rows[i] for i in batch])
            yield np.asarray(batch, dtype=np.int64), truncate_and_normalize(vectors, dimension)

    def _run(self, rows: Sequence[list[int]]) -> Vectors:
        width = max(len(ids) for ids in rows)
        input_ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, ids in enumerate(rows):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        (vectors,) = self.session.run(
            [model_files.EMBEDDING_OUTPUT],
            {"input_ids": input_ids, "attention_mask": attention_mask},
        )
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        # onnxruntime frees the session with the object; dropping the reference is enough.
        del self.session


def _model_ids(encoding: Encoding) -> list[int]:
    """Token ids cut to the model's limit, keeping the closing <eos> as the model expects."""
    ids: list[int] = encoding.ids
    if len(ids) <= MAX_MODEL_TOKENS:
        return ids
    return [*ids[: MAX_MODEL_TOKENS - 1], ids[-1]]


def _batches_by_tokens(
    order: Sequence[int], rows: Sequence[list[int]], batch_tokens: int
) -> Iterator[list[int]]:
    """Group length-sorted inputs so rows x longest row stays within the token budget."""
    batch: list[int] = []
    for index in order:
        length = len(rows[index])
        if batch and ((len(batch) + 1) * length > batch_tokens or len(batch) >= MAX_BATCH_ROWS):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def create_session(
    graph: Path,
    threads: int,
    *,
    accuracy_level: int | None = INT8_ACCURACY_LEVEL,
    config: Mapping[str, str] | None = None,
    optimization: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    memory_arena: bool = False,
) -> ort.InferenceSession:
    """An onnxruntime session for an embedding graph, its 4-bit MatMuls set to `accuracy_level`.

    The level is an attribute written in the graph file, and the user's files must keep their
    published SHA-256: the graph is rewritten in memory and loaded from bytes, its external
    weights still read from the graph's own folder. `config` adds session config entries.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = optimization
    # onnxruntime's arena keeps every block it ever took and fragments as batch shapes change:
    # measured, it held 1.5 GB after two batches of 16 x 512 tokens; plain malloc, 0.35 GB.
    options.enable_cpu_mem_arena = memory_arena
    # Idle worker threads must not spin: the generator and the GUI share these cores.
    entries = {"session.intra_op.allow_spinning": "0", **(config or {})}
    if "DequantizeLinear" in onnx_graph.op_types(graph):
        # Weights stored in 4 bits and turned into int8 at load (models/int8_down.py): let
        # constant folding run through DequantizeLinear, which onnxruntime otherwise keeps for
        # its QDQ fusions, and which would then dequantize on every batch.
        entries.setdefault("session.disable_quant_qdq", "1")
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    options.log_severity_level = 3
    source: str | bytes = str(graph)
    if accuracy_level is not None:
        rewritten = onnx_graph.with_accuracy_level(graph, accuracy_level)
        if rewritten is not None:
            source = rewritten
            options.add_session_config_entry(
                "session.model_external_initializers_file_folder_path", str(graph.parent)
            )
    try:
        session = ort.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(graph, f"cannot be loaded by onnxruntime ({exc})") from exc
    inputs = {i.name for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    if not set(model_files.EMBEDDING_INPUTS) <= inputs:
        raise ModelError(graph, f"has inputs {sorted(inputs)}, not input_ids/attention_mask")
    if model_files.EMBEDDING_OUTPUT not in outputs:
        raise ModelError(graph, "has no sentence_embedding output")
    return session


def _release_freed_memory() -> None:
    """Give the C heap's free pages back to the system (glibc only; a no-op elsewhere).

    Parsing the real 262,144-token tokenizer.json peaks at about 190 MB of which about 100 MB
    is free again afterwards, but glibc keeps freed heap pages mapped: measured, RSS fell
    from 207 to 102 MB after this call.
    """
    if not sys.platform.startswith("linux"):
        return
    # musl and other C libraries have no malloc_trim: nothing to give back then.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
