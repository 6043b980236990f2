"""Every user setting in one place: defaults, meaning, and the TOML file that keeps them."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.errors import ConfigError

MATRYOSHKA_DIMENSIONS = (768, 512, 256, 128)
SEARCH_MODES = ("hybrid", "vector", "keyword")
MAX_MODEL_TOKENS = 2048  # EmbeddingGemma's fixed rotary cache: the graph fails past this
SETTINGS_FILE_NAME = "settings.toml"


@dataclass(frozen=True)
class Settings:
    """User settings. Paths left as None resolve to the per-user defaults."""

    # The library folder (SQLite database, FAISS index, conversations).
    data_dir: Path = field(default_factory=paths.default_data_dir)
    # Embedding model folder in the published layout (onnx/model_q4.onnx, tokenizer.json...).
    embedding_model: Path | None = None
    # Generator model: one .gguf file with a chat template.
    generator_model: Path | None = None
    # CPU threads for the models; physical cores by default (hyper-threads only add contention).
    threads: int = field(default_factory=paths.physical_cores)
    # Largest chunk in tokens, prompt and <bos>/<eos> included; at most 2048 (the model's limit).
    # 192 lets about three passages into the answer prompt's ~720 tokens (README, Indexing).
    chunk_tokens: int = 192
    # Tokens shared by consecutive chunks so a passage cut at a boundary is still found whole.
    chunk_overlap_tokens: int = 24
    # Matryoshka dimension of the library's vectors: 768, 512, 256 or 128.
    dimension: int = 768
    # Passages retrieved for a search or an answer.
    top_k: int = 6
    # hybrid (vectors + keywords fused), vector, or keyword.
    search_mode: str = "hybrid"
    # Sampling temperature of the generator; low keeps answers close to the passages.
    temperature: float = 0.2
    # Most tokens an answer may take.
    max_answer_tokens: int = 384
    # Context window of the generator: prompt, passages, history and answer must fit in it.
    context_tokens: int = 2048
    # A file whose parse takes longer than this is stopped and reported as timed out.
    parse_timeout_seconds: float = 60.0
    # Memory cap of the parser process, so a decompression bomb cannot take the machine.
    parse_memory_mb: int = 2048
    # Larger files are not read at all.
    max_file_mb: int = 512
    # Read scanned pages (PDF pages without a text layer or with garbled text) and pictures
    # of text (.png, .jpg, .tif...) by OCR, offline. Off: such pages stay `no_text`.
    ocr: bool = True
    # Time one page may take in OCR (about 3 s on two cores), on top of the file's limit.
    ocr_page_timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.dimension not in MATRYOSHKA_DIMENSIONS:
            raise ConfigError(
                f"dimension must be one of {', '.join(map(str, MATRYOSHKA_DIMENSIONS))}, "
                f"not {self.dimension}"
            )
        if not 64 <= self.chunk_tokens <= MAX_MODEL_TOKENS:
            raise ConfigError(f"chunk_tokens must be between 64 and {MAX_MODEL_TOKENS}")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens // 2:
            raise ConfigError("chunk_overlap_tokens must be at least 0 and under half a chunk")
        if self.search_mode not in SEARCH_MODES:
            raise ConfigError(f"search_mode must be one of {', '.join(SEARCH_MODES)}")
        if self.threads < 1:
            raise ConfigError("threads must be at least 1")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")
        if self.ocr_page_timeout_seconds <= 0:
            raise ConfigError("ocr_page_timeout_seconds must be above 0")
        if self.context_tokens < 512:
            raise ConfigError("context_tokens must be at least 512")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_PATH_FIELDS = {"data_dir", "embedding_model", "generator_model"}


def settings_file() -> Path:
    return paths.config_dir() / SETTINGS_FILE_NAME


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the TOML file, then the environment, then explicit overrides (CLI)."""
    path = path or settings_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read settings ({exc})") from exc
    known = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in values.items() if k in known}
    env = {
        "data_dir": os.environ.get(paths.DATA_DIR_ENV),
        "embedding_model": os.environ.get(paths.EMBEDDING_MODEL_ENV),
        "generator_model": os.environ.get(paths.GENERATOR_MODEL_ENV),
    }
    values.update({k: v for k, v in env.items() if v})
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in _PATH_FIELDS & values.keys():
        values[name] = Path(values[name]).expanduser()
    try:
        return Settings(**values)
    except TypeError as exc:
        raise ConfigError(f"{path}: invalid settings ({exc})") from exc


def _write_toml(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    with open(tmp, "wb") as out:
        tomli_w.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def save_settings_changes(old: Settings, new: Settings, path: Path | None = None) -> None:
    """Write only what changed from `old` to `new` into the settings file, keeping the rest
    of the file as it was: values that came from the environment or the command line (a
    models folder, a data folder) are never written down as if the user had chosen them."""
    path = path or settings_file()
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read settings ({exc})") from exc
    for f in dataclasses.fields(Settings):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before == after:
            continue
        if after is None:
            values.pop(f.name, None)
        else:
            values[f.name] = str(after) if isinstance(after, Path) else after
    _write_toml(values, path)
