"""EmbeddingGemma through onnxruntime: prompts, batching by length, Matryoshka cuts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from embeddinggemma_rag.core import model_files, paths
from embeddinggemma_rag.core.cancel import (
    NEVER_CANCELLED,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.prompts import QUERY_PROMPT, document_prompt, load_prompts
from embeddinggemma_rag.core.settings import MAX_MODEL_TOKENS

FULL_DIMENSION = 768
PAD_ID = 0
# Tokens in one batch (rows x longest row). Large enough to keep both cores busy, small enough
# that a batch of 2048-token inputs still fits comfortably in memory (activations scale with it).
DEFAULT_BATCH_TOKENS = 8192
MAX_BATCH_ROWS = 64

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """What ingestion and search need from an embedding model."""

    model_id: str
    max_tokens: int

    def count_tokens(self, model_input: str) -> int: ...

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
    ) -> None:
        self.files = model_files.locate_embedding_model(model_dir, graph_name)
        self.prompts = load_prompts(self.files.root)
        self.batch_tokens = batch_tokens
        self.tokenizer = self._load_tokenizer(self.files.tokenizer)
        self.session = self._load_session(self.files.graph, threads or paths.physical_cores())
        self.model_id = self._model_id()

    @staticmethod
    def _load_tokenizer(path: Path) -> Tokenizer:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(path, f"is not a valid tokenizer ({exc})") from exc
        # The tokenizer's own template adds <bos>/<eos>; truncation keeps room for them.
        tokenizer.enable_truncation(MAX_MODEL_TOKENS)
        tokenizer.no_padding()  # batches are padded here, on the right, after sorting by length
        return tokenizer

    @staticmethod
    def _load_session(graph: Path, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not spin: the generator and the GUI share these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(graph), sess_options=options, providers=["CPUExecutionProvider"]
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
        self.tokenizer.no_truncation()
        try:
            return len(self.tokenizer.encode(model_input).ids)
        finally:
            self.tokenizer.enable_truncation(MAX_MODEL_TOKENS)

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
        encodings = self.tokenizer.encode_batch(list(model_inputs))
        # Sorting by length puts similar lengths together, so little compute goes to padding.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for batch in _batches_by_tokens(order, encodings, self.batch_tokens):
            cancel.raise_if_cancelled()
            vectors = self._run([encodings[i] for i in batch])
            yield np.asarray(batch, dtype=np.int64), truncate_and_normalize(vectors, dimension)

    def _run(self, encodings: Sequence[Encoding]) -> Vectors:
        width = max(len(e.ids) for e in encodings)
        input_ids = np.full((len(encodings), width), PAD_ID, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        (vectors,) = self.session.run(
            [model_files.EMBEDDING_OUTPUT],
            {"input_ids": input_ids, "attention_mask": attention_mask},
        )
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        # onnxruntime frees the session with the object; dropping the reference is enough.
        del self.session


def _batches_by_tokens(
    order: Sequence[int], encodings: Sequence[Encoding], batch_tokens: int
) -> Iterator[list[int]]:
    """Group length-sorted inputs so rows x longest row stays within the token budget."""
    batch: list[int] = []
    for index in order:
        length = len(encodings[index].ids)
        if batch and ((len(batch) + 1) * length > batch_tokens or len(batch) >= MAX_BATCH_ROWS):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch
