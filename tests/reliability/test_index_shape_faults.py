"""Faults while the vector index changes shape in the background: a kill at each step of
its save, or a full disk, leaves a library that opens, agrees with SQLite and answers as
before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from embeddinggemma_rag.core.library import atomic_files, index_shape
from embeddinggemma_rag.core.library.library import SIDECAR_NAME, Library
from embeddinggemma_rag.core.library.vector_index import EXACT, partitioned
from tests.core.library.test_library import MODEL
from tests.reliability.helpers import REPO, cli_env
from tests.reliability.test_disk_full import enospc, saved_pair
from tests.reliability.test_kills import KILLPOINTS

DIMENSION = 128
# The shape the 240-vector library below moves to: 16 partitions (about sqrt(240)).
PARTITIONED = partitioned(16)
# In the child: thresholds lowered so this small library wants the compact shape, then
# the move the open starts, waited for.
MOVE = """
import sys
from embeddinggemma_rag.core.library import index_shape
from embeddinggemma_rag.core.library.library import Library
index_shape.PARTITION_FROM, index_shape.EXACT_BELOW = 1, 0
library = Library.open(sys.argv[1], int(sys.argv[2]), sys.argv[3])
print(library.wait_for_index_shape(60))
library.close()
"""


def vectors_searched(data_dir: Path) -> list[list[int]]:
    from tests.core.library.test_index_shape import clustered

    library = Library.open(data_dir, DIMENSION, MODEL)
    try:
        assert library.consistency_report().ok
        return [[h.chunk_id for h in library.search("", q, 6, "vector")] for q in clustered(8, 4)]
    finally:
        library.close()


@pytest.fixture()
def exact_library(tmp_path: Path) -> Path:
    from tests.core.library.test_index_shape import fill

    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 12)
    library.save_index()
    assert library.wait_for_index_shape(30) == EXACT
    library.close()
    return data_dir


@pytest.mark.parametrize(
    "kill_at",
    [
        "replace-before:vectors.faiss:1",
        "replace-after:vectors.faiss:1",  # new index, old description: sizes disagree
        "replace-before:vectors.json:1",
        "replace-after:vectors.json:1",
    ],
)
def test_a_kill_while_the_index_changes_shape_leaves_a_library_that_opens(
    kill_at: str, exact_library: Path
) -> None:
    before = vectors_searched(exact_library)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(KILLPOINTS), cli_env()["PYTHONPATH"]]),
        "RELIABILITY_KILL_AT": kill_at,
    }
    command = [sys.executable, "-c", MOVE, str(exact_library), str(DIMENSION), MODEL]
    killed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, f"{kill_at} never reached: {killed.stderr}"
    assert vectors_searched(exact_library) == before

    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert finished.stdout.strip() == PARTITIONED, finished.stderr
    assert json.loads((exact_library / SIDECAR_NAME).read_text())["shape"] == PARTITIONED
    assert vectors_searched(exact_library) == before


def test_a_full_disk_during_the_move_keeps_the_saved_index(
    exact_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = vectors_searched(exact_library)
    saved = saved_pair(exact_library)
    monkeypatch.setattr(index_shape, "PARTITION_FROM", 1)
    monkeypatch.setattr(index_shape, "EXACT_BELOW", 0)
    with monkeypatch.context() as full:
        full.setattr(atomic_files.os, "replace", enospc)
        library = Library.open(exact_library, DIMENSION, MODEL)
        assert library.wait_for_index_shape(30) == PARTITIONED  # in memory; the save failed
        assert [[h.chunk_id for h in library.search("", q, 6, "vector")] for q in _queries()] == (
            before
        )
        library.close()
    assert saved_pair(exact_library) == saved
    assert not list(exact_library.glob("*.tmp"))
    monkeypatch.undo()
    assert vectors_searched(exact_library) == before


def _queries():  # type: ignore[no-untyped-def]
    from tests.core.library.test_index_shape import clustered

    return clustered(8, 4)
