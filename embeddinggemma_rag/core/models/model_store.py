"""The models the app uses: the manifest, what is on disk, verifying and importing files."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.cancel import (
    NEVER_CANCELLED,
    CancelToken,
    ProgressCallback,
    ignore_progress,
)
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.models import model_files
from embeddinggemma_rag.core.models.model_files import (
    EMBEDDING_MODEL_DIR_NAME,
    GENERATOR_MODEL_FILE_NAME,
    embedding_model_path,
    generator_model_path,
)
from embeddinggemma_rag.core.records import Manifest as Manifest
from embeddinggemma_rag.core.records import ManifestFile as ManifestFile
from embeddinggemma_rag.core.records import ModelSpec as ModelSpec
from embeddinggemma_rag.core.records import ModelStatus as ModelStatus
from embeddinggemma_rag.core.settings import Settings, load_settings, save_settings_changes

CHECKSUMS_FILE = "checksums.json"
MISMATCH_REASON = "does not match its recorded SHA-256 (damaged or tampered with)"
IMPORT_HINT = (
    "Import an embedding model folder in the published layout (onnx/model_q4.onnx with its "
    ".onnx_data, tokenizer.json) or a .gguf chat model with a chat template."
)
# The manifest ships inside the package; a source checkout keeps it in models/manifest/.
_SOURCE_MANIFEST = Path(__file__).resolve().parents[3] / "models" / "manifest" / "models.json"


def load_manifest() -> Manifest:
    try:
        text = resources.files("embeddinggemma_rag.manifest").joinpath("models.json").read_text()
    except ModuleNotFoundError:  # running from a source checkout, not installed
        text = _SOURCE_MANIFEST.read_text(encoding="utf-8")
    data = json.loads(text)
    return Manifest(_spec("embedding", data["embedding"]), _spec("generator", data["generator"]))


def _spec(kind: str, data: dict[str, Any]) -> ModelSpec:
    files = tuple(
        ManifestFile(f["path"], int(f.get("approx_bytes") or 0), f.get("sha256"))
        for f in data["files"]
    )
    return ModelSpec(
        kind,
        data["name"],
        data["repo_id"],
        data["revision"],
        data.get("licence", ""),
        bool(data.get("gated")),
        files,
    )


# Recorded checksums ----------------------------------------------------------------------


def read_checksums(root: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((root / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_checksums(root: Path, sums: dict[str, dict[str, Any]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (CHECKSUMS_FILE + ".tmp")
    tmp.write_text(json.dumps(sums, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / CHECKSUMS_FILE)


def hash_cache() -> Path:
    """Sums by size and mtime, shared with the embedder's model id: a 800 MB file hashes once."""
    return paths.config_dir() / "hash-cache.json"


def reference_sha256(spec: ModelSpec, file: ManifestFile, pins: dict[str, Any]) -> str | None:
    pinned = pins.get(spec.local_key(file), {})
    return file.sha256 or (pinned.get("sha256") if isinstance(pinned, dict) else None)


# Status ----------------------------------------------------------------------------------


def list_models(settings: Settings) -> list[ModelStatus]:
    """What is configured and present; sums from the hash cache (fast after the first time)."""
    return [_status(spec, settings, rehash=False) for spec in load_manifest().models()]


def verify_models(settings: Settings) -> list[ModelStatus]:
    """Rehash every file (no cache) and load each model as the app would."""
    statuses = []
    for spec in load_manifest().models():
        status = _status(spec, settings, rehash=True)
        if status.ok:
            try:
                check_loads(spec.kind, status.path, settings.threads)
            except ModelError as error:
                status = replace(status, problem=str(error))
        statuses.append(status)
    return statuses


def require_recorded_sums(settings: Settings, kind: str) -> None:
    """Refuse a model whose files no longer match the SHA-256 recorded when they came in.

    Run before every load; the hash cache keeps it cheap for files that did not change.
    """
    spec = load_manifest().embedding if kind == "embedding" else load_manifest().generator
    in_use = (
        embedding_model_path(settings) if kind == "embedding" else generator_model_path(settings)
    )
    local_name = EMBEDDING_MODEL_DIR_NAME if kind == "embedding" else GENERATOR_MODEL_FILE_NAME
    if in_use != paths.models_dir() / local_name:
        return  # files the user imported: nothing recorded to compare them with
    mismatch, _ = _check_sums(spec, hash_cache())
    if mismatch is not None:
        raise ModelError(mismatch, MISMATCH_REASON)


def _status(spec: ModelSpec, settings: Settings, rehash: bool) -> ModelStatus:
    if spec.kind == "embedding":
        path, configured = embedding_model_path(settings), settings.embedding_model
        local_name = EMBEDDING_MODEL_DIR_NAME
    else:
        path, configured = generator_model_path(settings), settings.generator_model
        local_name = GENERATOR_MODEL_FILE_NAME
    default = path == paths.models_dir() / local_name
    files = _model_files(spec, path, default)
    missing = [p for p, required in files if required and not p.is_file()]
    present = not missing
    status = ModelStatus(
        kind=spec.kind,
        path=path,
        configured=configured is not None,
        present=present,
        size_bytes=sum(p.stat().st_size for p, _ in files if p.is_file()),
        checksum="missing" if missing else "unpinned",
    )
    if missing:
        reason = f"{spec.kind} model file missing"
        return replace(status, problem=str(ModelError(missing[0], reason)))
    if not default:
        return status  # files the user imported: nothing recorded to compare them with
    mismatch, checked = _check_sums(spec, None if rehash else hash_cache())
    if mismatch is not None:
        problem = str(ModelError(mismatch, MISMATCH_REASON))
        return replace(status, problem=problem, checksum="mismatch")
    return replace(status, checksum="ok" if checked else "unpinned")


def _check_sums(spec: ModelSpec, cache: Path | None) -> tuple[Path | None, int]:
    """(the first file that does not match its recorded sum, how many files were checked)."""
    pins = read_checksums(paths.models_dir())
    checked = 0
    for file in spec.files:
        expected = reference_sha256(spec, file, pins)
        local = paths.models_dir() / spec.local_key(file)
        if expected is None or not local.is_file():
            continue
        if model_files.file_sha256(local, cache) != expected:
            return local, checked
        checked += 1
    return None, checked


def _model_files(spec: ModelSpec, path: Path, default: bool) -> list[tuple[Path, bool]]:
    """(file, required) pairs of a model as installed at `path`."""
    if spec.kind == "generator":
        return [(path, True)]
    required = {model_files.EMBEDDING_GRAPH, model_files.EMBEDDING_GRAPH + "_data"}
    required.add(model_files.EMBEDDING_TOKENIZER)
    if not default:
        return [(path / name, True) for name in sorted(required)]
    return [(path / f.path, f.path in required) for f in spec.files]


def check_loads(kind: str, path: Path, threads: int = 1) -> None:
    """Load a model as the app would; ModelError naming the file when it cannot be used."""
    if kind == "embedding":
        from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

        OnnxEmbedder(path, threads=threads).close()
    else:
        from embeddinggemma_rag.core.answering.generation import read_chat_template

        read_chat_template(path)


# Download --------------------------------------------------------------------------------


def download_models(
    settings: Settings,
    which: str = "all",
    token: str | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    endpoint: str | None = None,
) -> list[ModelStatus]:
    """Fetch the default models into the models folder (the only network access of the app).

    Files already there with the right sum are kept; others are fetched at the manifest's
    revision, checked against the hub's SHA-256 and recorded in checksums.json. Returns the
    status of the downloaded models in the models folder (not of any other configured path).
    """
    from embeddinggemma_rag.core.models.model_download import download

    specs = load_manifest().models(which)
    download(specs, paths.models_dir(), token, progress, cancel, endpoint)
    defaults = settings.replace(embedding_model=None, generator_model=None)
    return [_status(spec, defaults, rehash=False) for spec in specs]


# Import ----------------------------------------------------------------------------------


def import_model(settings: Settings, path: Path) -> ModelStatus:
    """Use model files the user has: check they load, then record their path in the settings.

    Nothing is copied: the models are hundreds of megabytes, and the user's files stay where
    they are. Only the settings file changes (not the library folder or other options given
    for this one command, which is why the file is read again).
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        kind = "embedding"
    elif path.is_file():
        kind = "generator"  # check_loads says so when it is not a GGUF
    else:
        raise ModelError(path, "no such file or folder", hint=IMPORT_HINT)
    try:
        check_loads(kind, path, settings.threads)
    except ModelError as error:
        raise ModelError(error.path, error.reason, hint=IMPORT_HINT) from error
    field = "embedding_model" if kind == "embedding" else "generator_model"
    saved = load_settings()  # the file and the environment, not this command's options
    save_settings_changes(saved, saved.replace(**{field: path}))
    updated = settings.replace(**{field: path})
    spec = getattr(load_manifest(), kind)
    return _status(spec, updated, rehash=False)
