"""SIGKILL an ingest (the CLI, in its own process) at random moments and at every persistence
step: the library always opens again, SQLite's integrity check passes, FAISS and SQLite agree,
and finishing the ingest gives the library an uninterrupted run gives."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.core.library.library import DB_NAME, INDEX_NAME
from tests.reliability.helpers import cli_command, cli_env, open_engine, run_cli

KILLPOINTS = Path(__file__).parent / "killpoints"
QUERIES = ["topic 3 details", "appendix seven", "measurement 12", "the heron"]
# Each kill point on a fresh library, then a finishing run: about 4 s each on two cores.
KILL_POINTS = [
    # while the library is created: the first open writes its metadata
    "commit-before:library.sqlite3:1",
    "commit-after:library.sqlite3:2",
    # in the middle of the files, each committed in its own transaction
    "commit-before:library.sqlite3:9",
    "commit-after:library.sqlite3:9",
    # the first index save is the empty one at creation; the second holds every vector
    "replace-before:vectors.faiss:2",
    "replace-after:vectors.faiss:2",  # new index, old description: sizes disagree
    "replace-before:vectors.json:2",
    "replace-after:vectors.json:2",
]
RANDOM_KILL_SECONDS = 45.0  # the random loop stops starting runs after this long
RANDOM_KILL_RUNS = 12


@dataclass(frozen=True)
class Snapshot:
    documents: dict[str, tuple[str, int]]  # file name -> (status, chunks)
    chunks: list[tuple[str, int, str, int, int]]  # file, ordinal, text, start, end
    tops: list[list[str]]  # per query, "file:char_start" best first
    vectors: dict[tuple[str, int], np.ndarray]

    def same_library(self, other: Snapshot) -> bool:
        return (self.documents, self.chunks, self.tops) == (
            other.documents,
            other.chunks,
            other.tops,
        )


def make_corpus(root: Path, files: int) -> Path:
    root.mkdir()
    for n in range(files):
        paragraphs = [
            " ".join(
                f"File {n} topic {p} sentence {s} about measurement {n * s}." for s in range(8)
            )
            for p in range(5)
        ]
        extra = "\n\nAn appendix seven note about the heron." if n % 4 == 0 else ""
        text = f"# Document {n}\n\n" + "\n\n".join(paragraphs) + extra
        (root / f"doc{n:03}.md").write_text(text)
    return root


def integrity_check(data_dir: Path) -> None:
    """SQLite's full integrity check, on a connection of its own (not the app's quick one)."""
    with contextlib.closing(sqlite3.connect(data_dir / DB_NAME)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # A kill between creating the tables and the keyword index leaves none yet: opening
        # creates it (reopen_and_check then checks it exists); one that exists must be sound.
        found = "SELECT 1 FROM sqlite_master WHERE name = 'chunks_keywords'"
        if db.execute(found).fetchone():
            check = (
                "INSERT INTO chunks_keywords(chunks_keywords, rank) VALUES ('integrity-check', 1)"
            )
            db.execute(check)


def reopen_and_check(data_dir: Path) -> Snapshot | None:
    """Open the library as the app does; it must be sound and agree with FAISS."""
    if not (data_dir / DB_NAME).exists():
        return None  # killed before SQLite created its file: nothing to check
    integrity_check(data_dir)
    with open_engine(data_dir) as engine:
        library = engine.library
        report = library.consistency_report()
        assert report.ok, report
        keywords = "SELECT count(*) FROM chunks_keywords"  # created on open if a kill left none
        assert library.store._db().execute(keywords).fetchone() is not None
        store = library.store
        rows = store._db().execute(
            "SELECT d.path, d.status, d.chunk_count FROM documents d ORDER BY d.path"
        )
        documents = {Path(path).name: (status, count) for path, status, count in rows}
        rows = (
            store._db()
            .execute(
                "SELECT d.path, c.ordinal, c.text, c.char_start, c.char_end, c.id "
                "FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.path, c.ordinal"
            )
            .fetchall()
        )
        chunks = [(Path(p).name, o, t, s, e) for p, o, t, s, e, _ in rows]
        ids, vectors = store.vectors_by_ids([row[5] for row in rows])
        keyed = {(Path(r[0]).name, r[1]): v for r, v in zip(rows, vectors, strict=True)}
        assert len(ids) == len(rows)
        tops = [
            [f"{Path(h.path).name}:{h.char_start}" for h in engine.search(query, k=5)]
            for query in QUERIES
        ]
    return Snapshot(documents, chunks, tops, keyed)


def assert_same_as_reference(resumed: Snapshot | None, reference: Snapshot) -> None:
    assert resumed is not None
    assert resumed.documents == reference.documents
    assert resumed.chunks == reference.chunks
    assert resumed.tops == reference.tops
    # Batches differ between the runs, so padding may move the last bits: compare by cosine.
    for key, vector in reference.vectors.items():
        assert float(np.dot(vector, resumed.vectors[key])) > 0.9999, key


def ingest(data_dir: Path, corpus: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(data_dir, "ingest", str(corpus), timeout=180, **env)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("kills") / "corpus", 12)


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    data_dir = tmp_path_factory.mktemp("reference") / "library"
    done = ingest(data_dir, corpus)
    assert done.returncode == 0, done.stderr
    snapshot = reopen_and_check(data_dir)
    assert snapshot is not None and len(snapshot.documents) == 12
    assert all(status == "indexed" for status, _ in snapshot.documents.values())
    return snapshot


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_kill_at_each_persistence_step_heals(
    kill_at: str, corpus: Path, reference: Snapshot, tmp_path: Path
) -> None:
    data_dir = tmp_path / "library"
    killed = ingest(
        data_dir,
        corpus,
        PYTHONPATH=os.pathsep.join([str(KILLPOINTS), cli_env()["PYTHONPATH"]]),
        RELIABILITY_KILL_AT=kill_at,
    )
    assert killed.returncode == -signal.SIGKILL, f"{kill_at} never reached: {killed.stderr}"
    reopen_and_check(data_dir)

    finished = ingest(data_dir, corpus)
    assert finished.returncode == 0, finished.stderr
    assert_same_as_reference(reopen_and_check(data_dir), reference)


def _kill_when(process: subprocess.Popen[bytes], data_dir: Path, trigger: str, at: float) -> bool:
    """Watch the library folder from outside and SIGKILL the ingest when `trigger` fires:
    "time" `at` seconds after the database exists, "wal" once the write-ahead log passes `at`
    kilobytes, "index-save" when a temporary index file appears (a save under way)."""
    database = data_dir / DB_NAME
    wal = data_dir / f"{DB_NAME}-wal"
    tmp = data_dir / f"{INDEX_NAME}.tmp"
    opened: float | None = None
    while process.poll() is None:
        if opened is None and database.exists():
            opened = time.monotonic()
        fire = (
            (trigger == "time" and opened is not None and time.monotonic() - opened >= at)
            or (trigger == "wal" and wal.exists() and wal.stat().st_size >= at * 1024)
            or (trigger == "index-save" and tmp.exists())
        )
        if fire:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0005)
    return False


@pytest.mark.slow
def test_random_kills_then_resume_give_the_uninterrupted_library(
    corpus: Path, reference: Snapshot, tmp_path: Path
) -> None:
    data_dir = tmp_path / "library"
    rng = random.Random(20250807)
    kills: dict[str, int] = {"time": 0, "wal": 0, "index-save": 0}
    deadline = time.monotonic() + RANDOM_KILL_SECONDS
    runs = 0
    while runs < RANDOM_KILL_RUNS and time.monotonic() < deadline:
        trigger = ("time", "wal", "index-save")[runs % 3]
        at = rng.uniform(0.0, 1.2) if trigger == "time" else rng.uniform(8, 400)
        process = subprocess.Popen(
            cli_command(data_dir, "ingest", str(corpus)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=cli_env(),
        )
        try:
            killed = _kill_when(process, data_dir, trigger, at)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        kills[trigger] += killed
        runs += 1
        reopen_and_check(data_dir)  # after every kill: opens, sound, FAISS agrees
        if not killed:  # the run finished: start over, so the next one has work to cut short
            shutil.rmtree(data_dir)

    print(f"\nrandom kills: {runs} runs, kills by trigger {kills}")
    assert sum(kills.values()) >= runs // 2, kills
    finished = ingest(data_dir, corpus)
    assert finished.returncode == 0, finished.stderr
    assert_same_as_reference(reopen_and_check(data_dir), reference)
