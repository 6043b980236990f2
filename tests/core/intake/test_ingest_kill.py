"""A `kill -9` in the middle of an ingest leaves a library that opens, agrees and completes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from embeddinggemma_rag.core.engine import build_engine
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_EMBEDDING_MODEL

QUERIES = ["topic 3 details", "appendix seven", "measurement 12"]


def make_corpus(root: Path, files: int = 40) -> Path:
    root.mkdir()
    for n in range(files):
        paragraphs = [
            " ".join(
                f"File {n} topic {p} sentence {s} about measurement {n * s}." for s in range(8)
            )
            for p in range(6)
        ]
        (root / f"doc{n:03}.md").write_text(f"# Document {n}\n\n" + "\n\n".join(paragraphs))
    return root


def ingest_command(data_dir: Path, folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "embeddinggemma_rag",
        "--data-dir",
        str(data_dir),
        "--embedding-model",
        str(TINY_EMBEDDING_MODEL),
        "ingest",
        str(folder),
    ]


def snapshot(data_dir: Path) -> tuple[dict[str, int], list[list[str]]]:
    engine = build_engine(
        Settings(data_dir=data_dir, embedding_model=TINY_EMBEDDING_MODEL, threads=1)
    )
    try:
        library = engine.library
        assert library.consistency_report().ok
        assert library.store.integrity_ok()
        documents = {Path(d.path).name: d.chunk_count for d in library.documents()}
        tops = [
            [f"{Path(h.path).name}:{h.char_start}" for h in engine.search(q, k=5)] for q in QUERIES
        ]
        return documents, tops
    finally:
        engine.close()


def test_kill_during_ingest_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus")
    reference_dir = tmp_path / "reference"
    started = time.monotonic()
    done = subprocess.run(ingest_command(reference_dir, folder), capture_output=True, text=True)
    whole = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    reference = snapshot(reference_dir)
    assert len(reference[0]) == 40

    killed_dir = tmp_path / "killed"
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            ingest_command(killed_dir, folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Within the time an uninterrupted run took (start-up included), so the kill lands
        # mid-ingest on a fast machine as on a slow one; fixed seconds let it finish first.
        time.sleep(rng.uniform(0.5, 0.95) * whole)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        # After every kill the library opens and SQLite and FAISS agree.
        if (killed_dir / "library.sqlite3").exists():
            snapshot(killed_dir)
    assert kills >= 1, "the ingest finished before any kill: make the corpus larger"

    subprocess.run(ingest_command(killed_dir, folder), check=True, capture_output=True)
    assert snapshot(killed_dir) == reference
