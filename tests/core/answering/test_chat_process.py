"""ProcessChatModel: the answer model in a child process, and what a crash there costs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from embeddinggemma_rag.core.answering.chat_process import (
    STOPPED_UNEXPECTEDLY,
    AnswerModelCrashed,
    ProcessChatModel,
)
from embeddinggemma_rag.core.answering.generation import LlamaGenerator
from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.errors import ModelError
from tests.conftest import TINY_CHAT_MODEL
from tests.core.answering import chat_hooks
from tests.core.answering.test_generation import with_chat_template

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What does the manual say about the warranty?"},
]


@pytest.fixture
def fault(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "")
    yield


@pytest.fixture
def model(fault: None) -> Iterator[ProcessChatModel]:
    chat = ProcessChatModel(
        TINY_CHAT_MODEL, context_tokens=512, threads=1, _setup_module=chat_hooks.__name__
    )
    yield chat
    chat.close()


def set_fault(monkeypatch: pytest.MonkeyPatch, chat: ProcessChatModel, value: str) -> None:
    """The fault applies to the next child: stop the current one so the next answer starts it."""
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, value)
    pid = chat.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # The next request either finds the idle child already dead and starts a fresh one, or
    # reaches it before the kill lands and reports the crash (which of the two depends on
    # the machine's load); after either, a fresh child with the new fault answers.
    try:
        chat.count_tokens("a dead process is found on the next request")
    except AnswerModelCrashed:
        chat.count_tokens("so the next one starts a fresh process")
    assert chat.pid is not None and chat.pid != pid


def answer(chat: ProcessChatModel, max_tokens: int = 24) -> str:
    return "".join(chat.stream_chat(MESSAGES, max_tokens, 0.0, CancelToken()))


def test_answers_the_same_as_the_in_process_model(model: ProcessChatModel) -> None:
    local = LlamaGenerator(TINY_CHAT_MODEL, context_tokens=512, threads=1)
    try:
        expected = "".join(local.stream_chat(MESSAGES, 24, 0.0, CancelToken()))
        assert model.count_tokens("hello world") == local.count_tokens("hello world")
        assert model.count_chat_tokens(MESSAGES) == local.count_chat_tokens(MESSAGES)
    finally:
        local.close()
    assert expected and answer(model) == expected
    assert answer(model) == expected  # the kept context (prompt cache) changes nothing
    model.set_threads(2, fresh=True)  # as when an ingest steps aside: same answer, no error
    model.set_threads(1, fresh=True)
    assert answer(model) == expected


def test_a_segfault_mid_answer_costs_that_answer_only(
    model: ProcessChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = answer(model)
    set_fault(monkeypatch, model, "segv:3")
    pieces: list[str] = []
    with pytest.raises(AnswerModelCrashed) as raised:
        for piece in model.stream_chat(MESSAGES, 24, 0.0, CancelToken()):
            pieces.append(piece)
    assert len(pieces) == 3  # what came before the crash was streamed
    assert STOPPED_UNEXPECTEDLY in str(raised.value) and "SIGSEGV" in str(raised.value)
    assert str(TINY_CHAT_MODEL) in str(raised.value)
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "")
    crashed_pid = model.pid
    assert answer(model) == healthy  # the next question starts a fresh process
    assert model.pid is not None and model.pid != crashed_pid


def test_a_kill_from_outside_mid_answer_is_reported_as_such(
    model: ProcessChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_fault(monkeypatch, model, "slow:0.2")
    killed = False
    with pytest.raises(AnswerModelCrashed, match="killed"):
        for _ in model.stream_chat(MESSAGES, 24, 0.0, CancelToken()):
            if not killed:
                pid = model.pid  # the process this answer started
                assert pid is not None
                os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer does
                killed = True
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "")
    assert answer(model, 4)


def test_cancel_stops_the_child_and_the_next_answer_starts_clean(
    model: ProcessChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = answer(model, 8)
    set_fault(monkeypatch, model, "slow:0.1")
    cancel = CancelToken()
    pieces, pids = [], []
    for piece in model.stream_chat(MESSAGES, 200, 0.0, cancel):
        pieces.append(piece)
        pids.append(model.pid)
        cancel.cancel()
    assert len(pieces) == 1  # nothing is yielded after the cancel
    assert model.pid == pids[0]  # stopped, not killed: the loaded model is kept
    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "")
    set_fault(monkeypatch, model, "")
    assert answer(model, 8) == expected


def test_closing_the_consumer_early_keeps_requests_in_step(model: ProcessChatModel) -> None:
    stream = model.stream_chat(MESSAGES, 200, 0.0, CancelToken())
    next(stream)
    stream.close()  # the caller walked away mid-answer
    assert model.count_tokens("hello") > 0


def test_cancel_from_another_thread_ends_the_stream(model: ProcessChatModel) -> None:
    cancel = CancelToken()
    timer = threading.Timer(0.05, cancel.cancel)
    timer.start()
    try:
        text = "".join(model.stream_chat(MESSAGES, 2000, 0.8, cancel))
    finally:
        timer.cancel()
    assert cancel.cancelled and isinstance(text, str)
    assert model.count_tokens("still in step") > 0


def unknown_architecture() -> bytes:
    """The tiny GGUF claiming an architecture no llama.cpp knows (same length: still valid)."""
    data = TINY_CHAT_MODEL.read_bytes()
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type (uint32), string length (uint64)
    assert data[at : at + 5] == b"llama"
    renamed = data[:at] + b"zlama" + data[at + 5 :]
    return renamed.replace(b"llama.", b"zlama.")  # its keys are named after it too


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b"not a model at all"), "is not a GGUF model file"),
        (lambda p: p.write_bytes(TINY_CHAT_MODEL.read_bytes()[:4096]), "cannot be loaded"),
        (lambda p: with_chat_template(TINY_CHAT_MODEL, p, None), "has no chat template"),
        (lambda p: p.write_bytes(unknown_architecture()), "architecture"),
    ],
    ids=["not-gguf", "truncated", "no-template", "unknown-architecture"],
)
def test_a_broken_file_fails_at_load_with_one_clear_reason(
    tmp_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "broken.gguf"
    make(path)
    with pytest.raises(ModelError, match=reason) as raised:
        ProcessChatModel(path, context_tokens=512, threads=1)
    assert str(path) in str(raised.value)
    assert not isinstance(raised.value, AnswerModelCrashed)


@pytest.mark.skipif(not hasattr(os, "getsid"), reason="sessions are POSIX")
def test_the_answer_process_runs_in_a_session_of_its_own(model: ProcessChatModel) -> None:
    # Linux's autogroup shares the CPU between sessions: beside a many-threaded job in the
    # app's session the answer keeps a program's share (chat_worker._start_own_session).
    model.count_tokens("start the process")
    assert model.pid is not None
    assert os.getsid(model.pid) == model.pid
    assert os.getsid(model.pid) != os.getsid(0)


_APP_THAT_DIES = """
import sys
from pathlib import Path
from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
chat = ProcessChatModel(Path(sys.argv[1]), context_tokens=512, threads=1)
chat.count_tokens("start the process")
print(chat.pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not hasattr(os, "getsid"), reason="sessions are POSIX")
def test_the_answer_process_ends_when_the_app_is_killed() -> None:
    # In its own session no hangup from a closed terminal reaches it: the closed pipe must.
    with subprocess.Popen(
        [sys.executable, "-c", _APP_THAT_DIES, str(TINY_CHAT_MODEL)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as app:
        assert app.stdout is not None
        worker = int(app.stdout.readline())
        app.kill()
        app.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker), f"answer process {worker} outlived the app"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
