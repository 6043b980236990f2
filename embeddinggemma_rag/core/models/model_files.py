"""Model files on disk: the published layouts, their checks, and content hashes."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.errors import ModelError

if TYPE_CHECKING:
    from embeddinggemma_rag.core.settings import Settings

# Where `models download` puts the two models, below the models folder.
EMBEDDING_MODEL_DIR_NAME = "embeddinggemma-300m-q4"
GENERATOR_MODEL_FILE_NAME = "gemma-3-1b-it-Q4_K_M.gguf"
EMBEDDING_GRAPH = "onnx/model_q4.onnx"
EMBEDDING_TOKENIZER = "tokenizer.json"
EMBEDDING_INPUTS = ("input_ids", "attention_mask")
EMBEDDING_OUTPUT = "sentence_embedding"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class EmbeddingModelFiles:
    """An embedding model folder in the published onnx-community layout."""

    root: Path
    graph: Path
    tokenizer: Path

    @property
    def external_data(self) -> Path:
        return self.graph.with_name(self.graph.name + "_data")


def embedding_model_path(settings: Settings) -> Path:
    return settings.embedding_model or paths.models_dir() / EMBEDDING_MODEL_DIR_NAME


def generator_model_path(settings: Settings) -> Path:
    return settings.generator_model or paths.models_dir() / GENERATOR_MODEL_FILE_NAME


def locate_embedding_model(root: Path, graph_name: str = EMBEDDING_GRAPH) -> EmbeddingModelFiles:
    """Check that `root` holds the published layout; name the first missing file otherwise."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ModelError(root, "embedding model folder not found")
    files = EmbeddingModelFiles(
        root=root, graph=root / graph_name, tokenizer=root / EMBEDDING_TOKENIZER
    )
    for required in (files.graph, files.tokenizer):
        if not required.is_file():
            raise ModelError(required, "missing from the embedding model folder")
        if required.stat().st_size == 0:
            raise ModelError(required, "is empty (an interrupted download?)")
    return files


def locate_generator_model(path: Path) -> Path:
    """Check that `path` looks like a GGUF file before llama.cpp is asked to load it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(path, "generator model file not found")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelError(path, "is not a GGUF model file")
    return path


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """SHA-256 of a file, cached by size and mtime so start-up never rehashes 200 MB."""
    stat = path.stat()
    # The change time is in the key too: putting the modification time back after editing a
    # file (as a careful tamperer would) still moves it, so the cache never hides a change.
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
    cache: dict[str, str] = {}
    if cache_file is not None:
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return cache[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            digest.update(block)
    value = digest.hexdigest()
    if cache_file is not None:
        cache[key] = value
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache), encoding="utf-8")
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a cache that cannot be written only costs a rehash next time
    return value
