"""What the reliability tests share: engines on the tiny models, the CLI, memory sampling."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL

REPO = Path(__file__).resolve().parents[2]


def tiny_settings(data_dir: Path, **changes: object) -> Settings:
    """Small chunks, one thread: fast, and still several chunks per test document."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "embedding_model": TINY_EMBEDDING_MODEL,
        "generator_model": TINY_CHAT_MODEL,
        "threads": 1,
        "chunk_tokens": 128,
        "chunk_overlap_tokens": 16,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def open_engine(data_dir: Path, **changes: object) -> Iterator[Engine]:
    engine = build_engine(tiny_settings(data_dir, **changes))
    try:
        yield engine
    finally:
        engine.close()


def cli_command(data_dir: Path, *args: str, default_models: bool = False) -> list[str]:
    """The CLI on `data_dir` with the tiny models, or the installed ones (`default_models`)."""
    models = (
        []
        if default_models
        else [
            "--embedding-model",
            str(TINY_EMBEDDING_MODEL),
            "--generator-model",
            str(TINY_CHAT_MODEL),
        ]
    )
    return [sys.executable, "-m", "embeddinggemma_rag", "--data-dir", str(data_dir), *models, *args]


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment (throw-away user folders) with the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    data_dir: Path,
    *args: str,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    default_models: bool = False,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *cli_command(data_dir, *args, default_models=default_models)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        cwd=REPO,
    )


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process now (Linux /proc), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def child_pids(pid: int | None = None) -> list[int]:
    pid = pid or os.getpid()
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                found += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return found


@dataclass
class MemorySampler:
    """Samples this process's RSS and its children's every few milliseconds in a thread."""

    interval: float = 0.02
    baseline: int = 0
    peak: int = 0
    child_peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> MemorySampler:
        self.baseline = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            children = [rss_bytes(pid) for pid in child_pids()]
            self.child_peak = max([self.child_peak, *children])
            self.samples += 1
            time.sleep(self.interval)
