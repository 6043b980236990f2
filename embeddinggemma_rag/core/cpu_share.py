"""How many cores other programs leave to us, read from the kernel's CPU counters.

llama.cpp splits each token's work between its threads and waits at every step for the
slowest one. On an idle machine one thread per core is fastest; beside another busy program
a thread that loses its core holds all the others back (SmolLM2-135M, 2 cores, README
Answers: 65 tokens/s idle with two threads, 20 beside a two-thread job, 28 with one thread).
The answer process asks `threads_for_now()` before an answer and every half second while it
writes, and uses as many threads as there are cores nobody else is using. Between answers a
sampler thread keeps the figure fresh (`follow`): what counts is the last half second, not
the minutes since the previous answer. The app's own work never counts (its CPU time is
read with ours), and a neighbour counts only once it has been busy for half a second: a
moment of some other program's work must not cost the answer a thread.

Linux only (`/proc/stat`); elsewhere the configured thread count is used as it is.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
MIN_WINDOW_S = 0.2  # shorter windows are noise: keep the last decision
SAMPLE_S = 0.25  # the sampler's period (four reads of /proc/stat a second)
PERSIST_S = 0.5  # a neighbour busy for a shorter time than this is a blip, not a load


def app_stat_file() -> Path:
    """The CPU counters of this process's parent: the app, for its answer process."""
    return Path(f"/proc/{os.getppid()}/stat")


class CoreShare:
    """Cores used by other processes since the last look: total busy time minus our own.

    `app_stat`: the /proc/PID/stat of the app that started this process (the answer
    process's parent, `app_stat_file()`). Its work is the app's own, never a neighbour: its
    query embedding just before an answer, its window. (The app's ingest steps aside for an
    answer by itself: `answer_priority`.)
    """

    def __init__(self, stat_file: Path = PROC_STAT, app_stat: Path | None = None) -> None:
        self._stat_file = stat_file
        self._app_stat = app_stat
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._cores = 0
        self._lock = threading.Lock()
        self._last = self._read()
        self._others = 0.0
        # The last window's figure, before the blip filter; None until a first window: the
        # first short window then counts as it is, or a neighbour already busy when the
        # answer process starts would read as none (min with a made-up 0) and the first
        # prompt would be read on every core, each thread given half of one.
        self._window_others: float | None = None
        self.samples = 0  # windows measured so far (tests wait on it)

    @property
    def available(self) -> bool:
        return self._last is not None

    def follow(self, period: float = SAMPLE_S) -> None:
        """Measure every `period` seconds in a daemon thread, so that the first
        `threads_for_now` of an answer sees the present, not the time since the last one."""
        if self._last is None:
            return

        def sample() -> None:
            while True:
                time.sleep(period)
                with self._lock:
                    self._update()

        threading.Thread(target=sample, name="core-share", daemon=True).start()

    def forget(self) -> None:
        """Measure from now on: the busy cores of the last moments were the app's own work,
        which has stopped (an ingest stepping aside for an answer)."""
        with self._lock:
            now = self._read()
            if now is not None:
                self._last = now
            self._others = self._window_others = 0.0

    def threads_for_now(self, cap: int) -> int:
        """Threads to use now, between 1 and `cap`: the cores other programs left free."""
        with self._lock:
            if self._last is None or not self._update():
                return cap
            spare = self._cores - self._others
        return max(1, min(cap, int(spare + 0.5)))

    def _update(self) -> bool:
        """Measure the window since the last sample if it is long enough; False when the
        counters cannot be read."""
        assert self._last is not None
        now = self._read()
        if now is None:
            return False
        wall = now[2] - self._last[2]
        if wall >= MIN_WINDOW_S:
            busy = now[0] - self._last[0]
            own = now[1] - self._last[1]
            others = max(0.0, (busy - own) / wall)
            # A short window counts only as far as the one before it agrees (the first one,
            # with none before it, as it is).
            previous, self._window_others = self._window_others, others
            if previous is not None and wall < PERSIST_S:
                self._others = min(others, previous)
            else:
                self._others = others
            self._last = now
            self.samples += 1
        return True

    def _read(self) -> tuple[float, float, float] | None:
        """(seconds all cores were busy, seconds this process ran, wall-clock seconds)."""
        try:
            lines = self._stat_file.read_text(encoding="ascii").splitlines()
            fields = [int(v) for v in lines[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        self._cores = sum(1 for line in lines[1:] if line.startswith("cpu"))
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + waiting for I/O
        busy = (sum(fields[:8]) - idle) / self._tick  # guest time is already in user time
        times = os.times()
        return busy, times.user + times.system + self._app_seconds(), time.monotonic()

    def _app_seconds(self) -> float:
        """CPU seconds the app has used (0 when there is none, or it is gone)."""
        if self._app_stat is None:
            return 0.0
        try:
            # utime and stime, fields 14 and 15 of the line: items 11 and 12 after the
            # command, whose name may hold spaces and parentheses.
            fields = self._app_stat.read_bytes().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self._tick
        except (OSError, ValueError, IndexError):
            return 0.0
