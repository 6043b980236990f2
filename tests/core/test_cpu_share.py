"""CoreShare: the cores other programs leave free, from /proc/stat-like counters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from embeddinggemma_rag.core import cpu_share
from embeddinggemma_rag.core.cpu_share import CoreShare

TICK = 100  # counters in 1/100 s, as USER_HZ almost everywhere


class FakeMachine:
    """A two-core /proc/stat, our own CPU time and a clock, all moved by the test."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stat = folder / "stat"
        self.busy = 0.0  # seconds all cores were busy
        self.idle = 0.0
        self.own = 0.0  # seconds this process ran
        self.now = 1000.0
        self.write()
        monkeypatch.setattr(cpu_share.os, "sysconf", lambda name: TICK)
        monkeypatch.setattr(cpu_share.os, "times", lambda: _Times(self.own))
        monkeypatch.setattr(cpu_share.time, "monotonic", lambda: self.now)

    def run(self, seconds: float, others: float, ours: float) -> None:
        """`seconds` pass with `others` cores busy elsewhere and `ours` in this process."""
        self.now += seconds
        self.busy += seconds * (others + ours)
        self.idle += seconds * (2 - others - ours)
        self.own += seconds * ours
        self.write()

    def write(self) -> None:
        def line(name: str, busy: float, idle: float) -> str:
            user, system = int(busy * TICK * 0.8), int(busy * TICK * 0.2)
            return f"{name} {user} 0 {system} {int(idle * TICK)} 0 0 0 0 0 0"

        halves = [line(f"cpu{i}", self.busy / 2, self.idle / 2) for i in range(2)]
        text = "\n".join([line("cpu", self.busy, self.idle), *halves, "intr 1 2 3", ""])
        self.stat.write_text(text, encoding="ascii")


class _Times:
    def __init__(self, own: float) -> None:
        self.user, self.system = own, 0.0


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    return FakeMachine(tmp_path, monkeypatch)


def test_an_idle_machine_gets_every_thread(machine: FakeMachine) -> None:
    share = CoreShare(machine.stat)
    machine.run(2.0, others=0.1, ours=1.9)  # our own busy threads do not count against us
    assert share.threads_for_now(2) == 2
    assert share.threads_for_now(1) == 1  # never more than the cap


def test_a_busy_neighbour_leaves_one_thread(machine: FakeMachine) -> None:
    share = CoreShare(machine.stat)
    machine.run(1.0, others=1.3, ours=0.7)
    assert share.threads_for_now(2) == 1
    machine.run(1.0, others=2.0, ours=0.0)  # even with every core taken: at least one
    assert share.threads_for_now(2) == 1
    machine.run(1.0, others=0.2, ours=1.0)  # the neighbour stopped: back to two
    assert share.threads_for_now(2) == 2


def test_a_short_window_keeps_the_last_decision(machine: FakeMachine) -> None:
    share = CoreShare(machine.stat)
    machine.run(1.0, others=1.5, ours=0.5)
    assert share.threads_for_now(2) == 1
    machine.run(0.05, others=0.0, ours=2.0)  # too short to tell a change from noise
    assert share.threads_for_now(2) == 1


def test_a_blip_costs_no_thread_but_a_lasting_load_does(machine: FakeMachine) -> None:
    """A quarter second of someone else's work (the app's own query embedding, whose
    threads spin for a moment) is not a neighbour; two quarter seconds in a row are."""
    share = CoreShare(machine.stat)
    machine.run(0.25, others=0.0, ours=0.0)
    assert share.threads_for_now(2) == 2
    machine.run(0.25, others=1.6, ours=0.0)
    assert share.threads_for_now(2) == 2
    machine.run(0.25, others=1.6, ours=0.0)
    assert share.threads_for_now(2) == 1
    machine.run(0.25, others=0.1, ours=1.0)  # and it ends as quickly
    assert share.threads_for_now(2) == 2


def test_a_neighbour_busy_before_the_first_answer_is_seen_at_once(machine: FakeMachine) -> None:
    # The answer process starts, loads its model, and its first question comes within half
    # a second: no earlier window to confirm the load, and none to deny it either.
    share = CoreShare(machine.stat)
    machine.run(0.3, others=1.9, ours=0.1)
    assert share.threads_for_now(2) == 1


def test_the_apps_own_work_is_never_a_neighbour(machine: FakeMachine, tmp_path: Path) -> None:
    # The answer process's parent (the app) embeds the question just before the first answer
    # is asked for, while no earlier window exists: that must not cost the answer a thread.
    app_stat = tmp_path / "app-stat"

    def app_ran(seconds: float) -> None:
        ticks = int(seconds * TICK)  # utime and stime are fields 14 and 15 of /proc/PID/stat
        app_stat.write_text(f"4242 (embeddinggemma (rag)) S 1 {'0 ' * 9}{ticks} 0 0 0\n")

    app_ran(0.0)
    share = CoreShare(machine.stat, app_stat=app_stat)
    machine.run(0.3, others=1.2, ours=0.2)  # the app's 1.2 cores for 0.3 s ...
    app_ran(0.36)  # ... are its own
    assert share.threads_for_now(2) == 2
    machine.run(0.6, others=1.8, ours=0.1)  # a real neighbour beside it is still seen
    assert share.threads_for_now(2) == 1


def test_forget_drops_the_load_of_the_apps_own_work_that_stopped(machine: FakeMachine) -> None:
    share = CoreShare(machine.stat)
    machine.run(1.0, others=1.8, ours=0.0)  # the app's ingest, another process's threads
    share.forget()  # ... which has just stepped aside for an answer
    assert share.threads_for_now(2) == 2
    machine.run(0.5, others=1.8, ours=0.0)  # a neighbour that really goes on is seen again
    assert share.threads_for_now(2) == 1


def test_the_sampler_keeps_the_figure_fresh_between_answers(machine: FakeMachine) -> None:
    """A long busy spell followed by a quiet quarter second: the next answer gets every
    thread, where one window since the last answer would have averaged in the busy spell."""
    share = CoreShare(machine.stat)
    share.follow(period=0.01)

    def next_sample() -> None:
        seen = share.samples
        deadline = time.perf_counter() + 5  # a real clock: monotonic() is the fake one here
        while share.samples == seen and time.perf_counter() < deadline:
            time.sleep(0.005)
        assert share.samples > seen, "the sampler never measured"

    machine.run(10.0, others=2.0, ours=0.0)
    next_sample()
    machine.run(0.3, others=0.0, ours=0.0)
    next_sample()
    assert share.threads_for_now(2) == 2


def test_without_the_kernels_counters_the_cap_is_used(tmp_path: Path) -> None:
    share = CoreShare(tmp_path / "no-such-stat")
    assert not share.available
    assert share.threads_for_now(3) == 3


def test_an_answer_follows_the_spare_cores() -> None:
    """The generator asks before the answer and uses what it is told, within its cap."""
    from llama_cpp import llama_cpp as low_level

    from embeddinggemma_rag.core.answering.generation import LlamaGenerator
    from embeddinggemma_rag.core.cancel import CancelToken
    from tests.conftest import TINY_CHAT_MODEL

    class Told:
        def __init__(self) -> None:
            self.answer = 1
            self.caps: list[int] = []
            self.forgotten = 0

        def forget(self) -> None:
            self.forgotten += 1

        def threads_for_now(self, cap: int) -> int:
            self.caps.append(cap)
            return min(cap, self.answer)

    told = Told()
    model = LlamaGenerator(TINY_CHAT_MODEL, 512, threads=2, core_share=told)  # type: ignore[arg-type]
    messages = [{"role": "user", "content": "What does the manual say?"}]
    try:
        ctx: Any = model._llama.ctx
        assert list(model.stream_chat(messages, 3, 0.2, CancelToken()))
        assert told.caps and told.caps[0] == 2
        assert low_level.llama_n_threads(ctx) == 1
        told.answer = 2
        assert list(model.stream_chat(messages, 3, 0.2, CancelToken()))
        assert low_level.llama_n_threads(ctx) == 2
        model.set_threads(1)  # the engine's cap (an ingest running) still wins
        assert list(model.stream_chat(messages, 3, 0.2, CancelToken()))
        assert told.caps[-1] == 1 and low_level.llama_n_threads(ctx) == 1
        assert told.forgotten == 0
        model.set_threads(2, fresh=True)  # the app's ingest stepped aside for this answer
        assert told.forgotten == 1
    finally:
        model.close()
