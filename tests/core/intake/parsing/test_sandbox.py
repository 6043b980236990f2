"""`ParserWorker`: parsing in a child process that survives loops, crashes and memory bombs."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sandbox_hooks
from pdf_factory import make_pdf

from embeddinggemma_rag.core.errors import (
    Cancelled,
    DocumentError,
    NoTextDocument,
    UnsupportedDocument,
)
from embeddinggemma_rag.core.intake.documents import PageText
from embeddinggemma_rag.core.intake.parsing import ParserWorker, parse_file

POSIX = sys.platform != "win32"


@pytest.fixture
def worker() -> Iterator[ParserWorker]:
    with ParserWorker(timeout_seconds=2, memory_mb=256, _setup_module=sandbox_hooks.__name__) as w:
        yield w


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def child_pid(worker: ParserWorker, tmp_path: Path) -> str:
    return worker.parse(write(tmp_path / "who.pid", "?")).pages[0].text


def test_parses_like_parse_file(worker: ParserWorker, tmp_path: Path) -> None:
    pdf = write(tmp_path / "a.pdf", make_pdf(["page one", "page two"], "Title"))

    assert worker.parse(pdf) == parse_file(pdf)
    assert worker.parse(pdf).pages[1] == PageText(2, "page two")


def test_errors_keep_their_class_and_reason(worker: ParserWorker, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedDocument, match="unsupported file type"):
        worker.parse(write(tmp_path / "a.xyz", "x"))
    with pytest.raises(NoTextDocument, match="empty file"):
        worker.parse(write(tmp_path / "empty.txt", ""))
    with pytest.raises(DocumentError, match="damaged or not a valid PDF") as raised:
        worker.parse(write(tmp_path / "bad.pdf", b"%PDF-1.4 garbage"))
    assert raised.value.path == tmp_path / "bad.pdf"
    with pytest.raises(DocumentError, match="file not found"):
        worker.parse(tmp_path / "missing.txt")


def test_the_child_is_reused(worker: ParserWorker, tmp_path: Path) -> None:
    assert child_pid(worker, tmp_path) == child_pid(worker, tmp_path)


def test_file_over_the_size_limit_is_not_sent(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as file:
        file.truncate(3 * 1024 * 1024)  # sparse: no need to write 3 MB

    with ParserWorker(max_file_mb=2) as worker, pytest.raises(DocumentError) as raised:
        worker.parse(big)

    assert raised.value.reason == "file too large (3 MB, limit 2 MB)"


def test_timeout_kills_the_child_and_the_next_file_works(
    worker: ParserWorker, tmp_path: Path
) -> None:
    before = child_pid(worker, tmp_path)
    started = time.monotonic()

    with pytest.raises(DocumentError) as raised:
        worker.parse(write(tmp_path / "loop.sleep", "60"))

    assert raised.value.reason == "timed out after 2 s"
    assert time.monotonic() - started < 10
    assert child_pid(worker, tmp_path) != before
    assert worker.parse(write(tmp_path / "ok.txt", "fine")).pages[0].text == "fine"


def test_crash_is_reported_and_the_worker_restarts(worker: ParserWorker, tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as raised:
        worker.parse(write(tmp_path / "boom.exit", "7"))

    assert raised.value.reason == "the parser crashed (exit code 7)"
    assert worker.parse(write(tmp_path / "ok.md", "# After\n")).title == "After"


@pytest.mark.skipif(not POSIX, reason="needs SIGKILL")
def test_killed_child_reads_as_out_of_memory(worker: ParserWorker, tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as raised:
        worker.parse(write(tmp_path / "oom.killed", "x"))

    assert raised.value.reason.startswith("ran out of memory while parsing")
    assert worker.parse(write(tmp_path / "ok.txt", "fine")).pages[0].text == "fine"


@pytest.mark.skipif(not POSIX, reason="the memory cap needs resource.setrlimit")
def test_memory_cap_turns_a_bomb_into_a_reason(worker: ParserWorker, tmp_path: Path) -> None:
    pid = child_pid(worker, tmp_path)

    with pytest.raises(DocumentError) as raised:
        worker.parse(write(tmp_path / "bomb.hog", "4096"))

    assert raised.value.reason == "ran out of memory while parsing"
    assert child_pid(worker, tmp_path) == pid  # the child caught it and lives on
    assert "got" in worker.parse(write(tmp_path / "small.hog", "16")).pages[0].text


@pytest.mark.skipif(not POSIX, reason="needs SIGKILL")
def test_child_killed_between_files_is_replaced(worker: ParserWorker, tmp_path: Path) -> None:
    pid = int(child_pid(worker, tmp_path))
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)

    assert int(child_pid(worker, tmp_path)) != pid


def test_close_during_a_parse_cancels_it_at_once(tmp_path: Path) -> None:
    worker = ParserWorker(timeout_seconds=60, _setup_module=sandbox_hooks.__name__)
    child_pid(worker, tmp_path)  # started, so the parse below is under way when we close
    outcome: list[BaseException] = []

    def parse_slowly() -> None:
        try:
            worker.parse(write(tmp_path / "slow.sleep", "60"))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=parse_slowly)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    worker.close()
    thread.join(timeout=10)

    assert time.monotonic() - started < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], Cancelled)


def test_threads_share_a_worker(worker: ParserWorker, tmp_path: Path) -> None:
    paths = [write(tmp_path / f"f{i}.txt", f"text {i}") for i in range(20)]
    results: dict[int, str] = {}

    def run(index: int) -> None:
        results[index] = worker.parse(paths[index]).pages[0].text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {i: f"text {i}" for i in range(len(paths))}


def test_close_stops_the_child_and_refuses_more_work(tmp_path: Path) -> None:
    worker = ParserWorker(_setup_module=sandbox_hooks.__name__)
    pid = int(child_pid(worker, tmp_path))

    worker.close()
    worker.close()  # twice is harmless

    if POSIX:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone and reaped, not a zombie
    with pytest.raises(RuntimeError):
        worker.parse(write(tmp_path / "a.txt", "x"))


def test_close_without_a_child_is_harmless() -> None:
    ParserWorker().close()


def test_child_that_cannot_start_is_a_reason(tmp_path: Path) -> None:
    with (
        ParserWorker(_setup_module="no_such_module_for_the_sandbox_test") as worker,
        pytest.raises(DocumentError) as raised,
    ):
        worker.parse(write(tmp_path / "a.txt", "x"))

    assert raised.value.reason == "the parser process could not start (exit code 1)"
