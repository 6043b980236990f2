"""`ask`, `models` and `self-test` as a user runs them, offline, and with the network blocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from embeddinggemma_rag.cli.main import main
from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.self_test import copy_sample
from embeddinggemma_rag.core.settings import settings_file
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.core.models.test_model_store import GGUF_NAME, hub_state
from tests.hub_server import serve_hub

REPO = Path(__file__).resolve().parents[2]
MODELS = ["--embedding-model", str(TINY_EMBEDDING_MODEL), "--generator-model", str(TINY_CHAT_MODEL)]
# Random-weight models make every cosine meaningless; these words vouch for the passage.
QUESTION = "How long is the Aurora kettle warranty?"

# Loaded into every Python process of a run (PYTHONPATH): internet sockets and name lookups
# fail and are written to a log, so a caught failure is still seen by the test.
BLOCK_NETWORK = """
import os, socket
_log = os.environ["NETWORK_ATTEMPTS_LOG"]
def _refuse(*args, **kwargs):
    with open(_log, "a") as f:
        f.write(repr(args[:2]) + "\\n")
    raise OSError("network blocked by the test")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def connect(self, address):
    if self.family != socket.AF_UNIX:
        _refuse(address)
    return _connect(self, address)
def connect_ex(self, address):
    if self.family != socket.AF_UNIX:
        _refuse(address)
    return _connect_ex(self, address)
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = socket.create_connection = _refuse
"""


@pytest.fixture(autouse=True)
def short_answers() -> None:
    """The tiny random model never stops by itself: keep its answers short (settings file)."""
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "settings.toml").write_text("max_answer_tokens = 24\n", encoding="utf-8")


@pytest.fixture()
def library(tmp_path: Path) -> list[str]:
    docs = tmp_path / "docs"
    copy_sample(docs)
    data = ["--data-dir", str(tmp_path / "library"), *MODELS]
    assert main([*data, "ingest", str(docs)]) == 0
    return data


def test_ask_streams_the_answer_then_lists_passages(
    library: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main([*library, "ask", QUESTION, "-k", "3"]) == 0
    out = capsys.readouterr().out
    # The tiny random model cites nothing: the passages it was given are listed instead.
    assert "Passages given to the model:" in out or "Sources:" in out
    assert "kettle-manual.md" in out


def test_ask_json_is_one_document(library: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main([*library, "ask", QUESTION, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"answer", "citations", "grounded", "passages", "prompt_tokens"} <= document.keys()
    assert document["grounded"] and document["passages"]
    for citation in document["citations"]:
        assert {"number", "path", "title", "page", "text"} <= citation.keys()


def test_ask_with_nothing_found_says_so_without_the_model(
    library: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [*library, "--generator-model", str(tmp_path / "absent.gguf")]
    assert main([*args, "ask", QUESTION, "--scope", str(empty)]) == 0
    out = capsys.readouterr().out
    # Nothing under that scope: no passages to list, and no heading over an empty list.
    assert "no indexed passages" in out and "Closest passages:" not in out


def test_ask_without_generator_model_is_one_clear_line(
    library: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    missing = tmp_path / "no-model.gguf"
    assert main([*library, "--generator-model", str(missing), "ask", QUESTION]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(missing) in err and "models download" in err and "Traceback" not in err


def test_ask_when_the_answer_model_crashes_is_one_line_and_exit_1(
    library: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
    from tests.core.answering import chat_hooks

    # The app's own answer process, importing the test fault first: SIGSEGV after 2 pieces.
    defaults = {**(ProcessChatModel.__init__.__kwdefaults__ or {})}
    defaults["_setup_module"] = chat_hooks.__name__
    monkeypatch.setattr(ProcessChatModel.__init__, "__kwdefaults__", defaults)
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "segv:2")
    capsys.readouterr()
    assert main([*library, "ask", QUESTION]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "the answer model stopped unexpectedly (SIGSEGV)" in err and str(TINY_CHAT_MODEL) in err


def test_models_list_verify_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.count("missing") >= 2
    assert main(["models", "verify"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "models download" in err

    path = settings_file()
    before = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    gguf = tmp_path / "chat.gguf"
    shutil.copy(TINY_CHAT_MODEL, gguf)
    assert main(["models", "import", str(gguf)]) == 0
    assert main(["models", "import", str(TINY_EMBEDDING_MODEL)]) == 0
    assert "nothing was copied" in capsys.readouterr().out
    # Only the two choices are written down, not every default (threads, the data folder).
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(written) == {*before, "generator_model", "embedding_model"}
    assert main(["models", "verify"]) == 0
    out = capsys.readouterr().out
    assert str(gguf) in out and "all models verified" in out


def test_models_import_of_a_wrong_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_text("not a model", encoding="utf-8")
    assert main(["models", "import", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a GGUF" in err


def test_self_test_passes_with_the_configured_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*MODELS, "self-test"]) == 0
    out = capsys.readouterr().out
    for step in ("ingest sample", "hybrid search", "answer", "first token", "self-test passed"):
        assert step in out


def test_self_test_without_models_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["self-test"]) == 1
    assert "models download" in capsys.readouterr().err


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embeddinggemma_rag", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_ingest_search_ask_with_networking_blocked(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCK_NETWORK, encoding="utf-8")
    attempts = tmp_path / "attempts.log"
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE")  # the app must set it itself
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), str(REPO)])
    env["NETWORK_ATTEMPTS_LOG"] = str(attempts)
    docs = tmp_path / "docs"
    copy_sample(docs)
    base = ["--data-dir", str(tmp_path / "library"), *MODELS]
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('example.org', 443)"],
        env=env,
        capture_output=True,
    )
    assert probe.returncode != 0 and attempts.exists()  # the block works
    attempts.unlink()
    for args in (["ingest", str(docs)], ["search", QUESTION], ["ask", QUESTION, "--json"]):
        result = run_cli(*base, *args, env=env)
        assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["grounded"]
    assert not attempts.exists(), attempts.read_text()


def test_models_download_from_a_loopback_hub(tmp_path: Path) -> None:
    state = hub_state()
    env = dict(os.environ)  # HF_HUB_OFFLINE=1 stays: download lifts it for itself only
    with serve_hub(state) as url:
        env["HF_ENDPOINT"] = url
        result = run_cli("models", "download", "--which", "generator", env=env)
    assert result.returncode == 0, result.stderr
    assert "generator ok" in result.stdout
    assert (paths.models_dir() / GGUF_NAME).read_bytes() == TINY_CHAT_MODEL.read_bytes()
    assert any(method == "GET" for method, _, _ in state.requests)


def test_ctrl_c_stops_the_answer_and_keeps_what_was_written(library: list[str]) -> None:
    settings = paths.config_dir() / "settings.toml"
    settings.write_text("max_answer_tokens = 1200\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "embeddinggemma_rag", *library, "ask", QUESTION],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    process.stdout.read(1)  # the answer has started streaming
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"[stopped]" in out and b"Traceback" not in err
