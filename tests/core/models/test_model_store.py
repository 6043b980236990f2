"""Model files: manifest, status, verify, import, and downloads from a stand-in hub."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.cancel import CancelToken, Progress
from embeddinggemma_rag.core.errors import Cancelled, ModelError
from embeddinggemma_rag.core.models import model_store
from embeddinggemma_rag.core.settings import Settings, load_settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.hub_server import FakeRepo, HubState, serve_hub

MANIFEST = model_store.load_manifest()
GGUF_NAME = MANIFEST.generator.files[0].path
LFS_EMBEDDING_FILES = {"onnx/model_q4.onnx", "onnx/model_q4.onnx_data", "tokenizer.json"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_manifest_ships_both_models_with_local_names() -> None:
    assert MANIFEST.embedding.repo_id == "onnx-community/embeddinggemma-300m-ONNX"
    assert len(MANIFEST.embedding.revision) == 40  # a commit, not a branch
    keys = [MANIFEST.embedding.local_key(f) for f in MANIFEST.embedding.files]
    assert "embeddinggemma-300m-q4/onnx/model_q4.onnx_data" in keys
    assert MANIFEST.generator.local_key(MANIFEST.generator.files[0]) == GGUF_NAME
    assert [m.kind for m in MANIFEST.models("generator")] == ["generator"]


def test_nothing_installed_lists_missing_with_what_to_do() -> None:
    statuses = model_store.list_models(Settings())
    assert [s.kind for s in statuses] == ["embedding", "generator"]
    for status in statuses:
        assert not status.present and status.checksum == "missing"
        assert str(paths.models_dir()) in status.problem and "models download" in status.problem


def test_configured_models_are_listed_and_verified() -> None:
    settings = Settings(embedding_model=TINY_EMBEDDING_MODEL, generator_model=TINY_CHAT_MODEL)
    statuses = model_store.list_models(settings)
    assert all(s.ok and s.configured and s.checksum == "unpinned" for s in statuses)
    assert statuses[1].size_bytes == TINY_CHAT_MODEL.stat().st_size
    assert all(s.ok for s in model_store.verify_models(settings))


def install_default_generator(data: bytes) -> Path:
    root = paths.models_dir()
    root.mkdir(parents=True, exist_ok=True)
    (root / GGUF_NAME).write_bytes(data)
    pins = {GGUF_NAME: {"sha256": sha256(TINY_CHAT_MODEL.read_bytes())}}
    model_store.write_checksums(root, pins)
    return root / GGUF_NAME


def test_pinned_sum_catches_a_tampered_file() -> None:
    path = install_default_generator(TINY_CHAT_MODEL.read_bytes())
    generator = model_store.list_models(Settings())[1]
    assert generator.ok and generator.checksum == "ok"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size; a new mtime, so the hash cache does not hide it
    path.write_bytes(bytes(data))
    status = model_store.verify_models(Settings())[1]
    assert status.checksum == "mismatch" and not status.ok
    assert str(path) in status.problem and "SHA-256" in status.problem


def test_verify_reports_a_truncated_model() -> None:
    broken = paths.models_dir() / "broken.gguf"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(TINY_CHAT_MODEL.read_bytes()[:100_000])
    status = model_store.verify_models(Settings(generator_model=broken))[1]
    assert not status.ok and "truncated or damaged" in status.problem


def test_import_records_paths_without_copying(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    shutil.copy(TINY_CHAT_MODEL, gguf)
    status = model_store.import_model(Settings(), gguf)
    assert status.ok and status.kind == "generator" and status.path == gguf
    status = model_store.import_model(Settings(), TINY_EMBEDDING_MODEL)
    assert status.ok and status.kind == "embedding"
    saved = load_settings()
    assert saved.generator_model == gguf
    assert saved.embedding_model == TINY_EMBEDDING_MODEL.absolute()
    assert not any(paths.models_dir().glob("*"))  # nothing copied


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"just text", "not a GGUF"),
        ("half.gguf", TINY_CHAT_MODEL.read_bytes()[:100_000], "truncated or damaged"),
        ("absent.gguf", None, "no such file"),
    ],
)
def test_import_refuses_unusable_files(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as error:
        model_store.import_model(Settings(), path)
    assert "embedding model folder" in str(error.value)  # says what an import takes
    assert load_settings().generator_model is None


def test_import_refuses_a_folder_that_is_not_an_embedding_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing from the embedding model folder"):
        model_store.import_model(Settings(), tmp_path)


# Downloads from the stand-in hub --------------------------------------------------------


def hub_state(gguf: bytes | None = None) -> HubState:
    embedding = {f.path: os.urandom(2000 + i) for i, f in enumerate(MANIFEST.embedding.files)}
    generator = {GGUF_NAME: gguf if gguf is not None else TINY_CHAT_MODEL.read_bytes()}
    return HubState(
        {
            MANIFEST.embedding.repo_id: FakeRepo(embedding, lfs=LFS_EMBEDDING_FILES),
            MANIFEST.generator.repo_id: FakeRepo(generator, lfs={GGUF_NAME}),
        }
    )


def test_download_fetches_checks_and_pins_every_file() -> None:
    state = hub_state()
    reports: list[Progress] = []
    with serve_hub(state) as url:
        statuses = model_store.download_models(Settings(), endpoint=url, progress=reports.append)
    assert all(s.present and s.checksum == "ok" for s in statuses)
    root = paths.models_dir()
    pins = json.loads((root / model_store.CHECKSUMS_FILE).read_text())
    for spec in MANIFEST.models():
        for file in spec.files:
            data = state.repos[spec.repo_id].files[file.path]
            local = root / spec.local_key(file)
            assert local.read_bytes() == data
            assert pins[spec.local_key(file)]["sha256"] == sha256(data)
    assert reports[-1].done == reports[-1].total > 0
    # The app is offline again afterwards.
    from huggingface_hub import constants

    assert constants.is_offline_mode() == (os.environ.get("HF_HUB_OFFLINE") == "1")


def test_download_skips_files_already_there() -> None:
    state = hub_state()
    with serve_hub(state) as url:
        model_store.download_models(Settings(), endpoint=url)
        state.requests.clear()
        model_store.download_models(Settings(), endpoint=url)
    assert [method for method, _, _ in state.requests] == ["POST", "POST"]  # paths-info only


def test_download_resumes_after_a_dropped_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    # huggingface-hub writes in chunks of this size; small, so a cut file has some on disk.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    big = os.urandom(600_000)
    state = hub_state(gguf=big)
    state.drop_once.add(f"{MANIFEST.generator.repo_id}/{GGUF_NAME}")
    with serve_hub(state) as url:
        model_store.download_models(Settings(), which="generator", endpoint=url)
    assert (paths.models_dir() / GGUF_NAME).read_bytes() == big
    ranges = [r for method, path, r in state.requests if method == "GET" and r]
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"


def test_download_with_wrong_bytes_is_quarantined_and_fails_clearly() -> None:
    state = hub_state()
    state.tampered.add(f"{MANIFEST.generator.repo_id}/{GGUF_NAME}")
    with serve_hub(state) as url, pytest.raises(ModelError, match="does not match") as error:
        model_store.download_models(Settings(), which="generator", endpoint=url)
    root = paths.models_dir()
    assert not (root / GGUF_NAME).exists()
    assert len(list((root / "quarantine").iterdir())) == 1
    assert GGUF_NAME in str(error.value) and "models download" in str(error.value)
    assert GGUF_NAME not in model_store.read_checksums(root)


def test_download_checks_small_files_by_git_blob_id() -> None:
    state = hub_state()
    state.tampered.add(f"{MANIFEST.embedding.repo_id}/config.json")  # not in LFS
    with serve_hub(state) as url, pytest.raises(ModelError, match="git blob id"):
        model_store.download_models(Settings(), which="embedding", endpoint=url)


def test_gated_repository_needs_a_token() -> None:
    state = hub_state()
    state.repos[MANIFEST.generator.repo_id].gated_token = "hf_secret"
    with serve_hub(state) as url:
        with pytest.raises(ModelError, match="--token"):
            model_store.download_models(Settings(), which="generator", endpoint=url)
        statuses = model_store.download_models(
            Settings(), which="generator", endpoint=url, token="hf_secret"
        )
    assert statuses[0].ok


def test_unreachable_hub_fails_clearly() -> None:
    with serve_hub(HubState()) as url:
        pass  # the server is gone: its port refuses connections
    with pytest.raises(ModelError, match="download failed") as error:
        model_store.download_models(Settings(), endpoint=url)
    assert "\n" not in str(error.value)


def test_cancel_stops_a_download_and_leaves_no_partial_file() -> None:
    cancel = CancelToken()

    def on_progress(progress: Progress) -> None:
        if progress.done:
            cancel.cancel()

    with serve_hub(hub_state()) as url, pytest.raises(Cancelled):
        model_store.download_models(
            Settings(), which="generator", endpoint=url, progress=on_progress, cancel=cancel
        )
    assert not (paths.models_dir() / GGUF_NAME).exists()
