"""The job bridge: results, failures, cancellation, pause and throttled reporting as signals."""

from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.errors import Cancelled, RagError
from embeddinggemma_rag.gui.jobs import JobContext, JobRunner

pytestmark = pytest.mark.gui


@pytest.fixture
def runner(qtbot: QtBot) -> JobRunner:
    runner = JobRunner()
    yield runner
    assert runner.shutdown(10_000)


def test_a_result_arrives_on_the_gui_thread(qtbot: QtBot, runner: JobRunner) -> None:
    seen: list[object] = []
    job = runner.start("name", lambda ctx: threading.current_thread().name)
    # Connected after start(): a job only starts once the event loop runs, so none is missed.
    job.succeeded.connect(lambda result: seen.append((result, threading.current_thread())))
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    [(worker_name, thread)] = seen
    assert thread is threading.main_thread()
    assert worker_name != threading.main_thread().name


def test_a_failure_carries_the_exception(qtbot: QtBot, runner: JobRunner) -> None:
    def fail(ctx: JobContext) -> None:
        raise RagError("/docs/a.pdf: unreadable")

    job = runner.start("fail", fail)
    with qtbot.waitSignal(job.failed, timeout=5000) as blocker:
        pass
    assert str(blocker.args[0]) == "/docs/a.pdf: unreadable"


def test_cancel_is_not_a_failure(qtbot: QtBot, runner: JobRunner) -> None:
    started = threading.Event()

    def wait_for_cancel(ctx: JobContext) -> None:
        started.set()
        while True:
            ctx.check()

    job = runner.start("cancel", wait_for_cancel)
    job.failed.connect(lambda exc: pytest.fail(f"failed: {exc}"))
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.waitSignals([job.cancelled, job.finished], timeout=5000, order="strict"):
        job.cancel()


def test_tokens_are_batched_and_none_is_lost(qtbot: QtBot, runner: JobRunner) -> None:
    received: list[str] = []

    def stream(ctx: JobContext) -> None:
        for i in range(500):
            ctx.token(f"{i} ")

    job = runner.start("stream", stream)
    job.tokens.connect(received.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert "".join(received) == "".join(f"{i} " for i in range(500))
    assert len(received) < 50  # a repaint per ~50 ms, not per token


def test_progress_is_throttled_to_one_percent_and_ends_on_the_last_value(
    qtbot: QtBot, runner: JobRunner
) -> None:
    received: list[object] = []

    def count(ctx: JobContext) -> None:
        for i in range(1, 10_001):
            ctx.progress(i, i / 10_000)

    job = runner.start("count", count)
    job.progressed.connect(received.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert received[-1] == 10_000
    assert len(received) <= 102


def test_a_paused_job_waits_at_its_check_until_resumed(qtbot: QtBot, runner: JobRunner) -> None:
    at_check = threading.Event()
    passed = threading.Event()

    def work(ctx: JobContext) -> str:
        at_check.set()
        ctx.check()
        passed.set()
        return "done"

    job = runner.start("pausable", work)
    job.set_paused(True)  # before it runs: it stops at its first check
    qtbot.waitUntil(at_check.is_set, timeout=5000)
    assert not passed.wait(0.2)  # still held at the pause point
    with qtbot.waitSignal(job.succeeded, timeout=5000):
        job.set_paused(False)
    assert passed.is_set()


def test_shutdown_cancels_and_waits_for_every_job(qtbot: QtBot) -> None:
    runner = JobRunner()
    stopped = threading.Event()

    def endless(ctx: JobContext) -> None:
        try:
            while True:
                ctx.check()
        except Cancelled:
            stopped.set()
            raise

    started = threading.Event()
    runner.start("endless", lambda ctx: (started.set(), endless(ctx)))
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert runner.shutdown(10_000)
    assert stopped.is_set()
    late = runner.start("late", lambda ctx: ctx.check())
    with qtbot.waitSignal(late.cancelled, timeout=5000):
        pass
