"""A full disk or an I/O error while saving: a clear message, and the library as it was before."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.library import atomic_files, vector_index
from embeddinggemma_rag.core.library.library import DB_NAME, INDEX_NAME, SIDECAR_NAME
from tests.reliability.helpers import open_engine, run_cli
from tests.reliability.test_kills import integrity_check, make_corpus

QUERIES = ["topic 3 details", "measurement 12"]


def tops(engine: object) -> list[list[str]]:
    return [[f"{Path(h.path).name}:{h.char_start}" for h in engine.search(q, k=5)] for q in QUERIES]  # type: ignore[attr-defined]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB file system (tmpfs, needs root), unmounted afterwards."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); the "
            "simulated-failure tests below still run"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.slow
def test_a_disk_that_fills_during_an_ingest(small_disk: Path, tmp_path: Path) -> None:
    data_dir = small_disk / "library"
    first = make_corpus(tmp_path / "first", 4)
    with open_engine(data_dir) as engine:
        engine.ingest([first])
        before = tops(engine)
        documents_before = {d.path for d in engine.library.documents()}
    big = make_corpus(tmp_path / "big", 80)  # far more than 3 MB of vectors and text

    full = run_cli(data_dir, "ingest", str(big), timeout=300)

    assert full.returncode == 1
    errors = [line for line in full.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "the disk is full" in errors[0], full.stderr
    assert "Traceback" not in full.stderr
    assert not list(data_dir.glob("*.tmp"))  # a failed save gives its space back

    # On the still full disk: the library opens, is sound, and holds what it held before.
    integrity_check(data_dir)
    with open_engine(data_dir) as engine:
        library = engine.library
        assert library.consistency_report().ok
        assert documents_before <= {d.path for d in library.documents()}
        assert all(tops(engine))  # searching works while the disk is full
        assert before

    # Room again: a sync finishes the job.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    done = run_cli(data_dir, "ingest", str(big), timeout=300)
    assert done.returncode == 0, done.stderr
    with open_engine(data_dir) as engine:
        assert len(engine.library.documents()) == 84
        assert engine.library.consistency_report().ok
    integrity_check(data_dir)


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    data_dir = tmp_path / "library"
    with open_engine(data_dir) as engine:
        engine.ingest([make_corpus(tmp_path / "corpus", 4)])
    return data_dir


def saved_pair(data_dir: Path) -> tuple[bytes, bytes]:
    return (data_dir / INDEX_NAME).read_bytes(), (data_dir / SIDECAR_NAME).read_bytes()


def enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["os.fsync", "os.replace", "index write"])
def test_a_failed_index_save_keeps_the_saved_pair_and_says_why(
    target: str, library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    more = tmp_path / "more"
    more.mkdir()
    (more / "new.md").write_text("# New\n\nA new note about the heron and the ibis.")
    with open_engine(library) as engine:
        engine.ingest([more])  # committed to SQLite and saved
        saved = saved_pair(library)
        with monkeypatch.context() as patch:
            if target == "index write":
                patch.setattr(vector_index._faiss, "PyCallbackIOWriter", lambda write: enospc())
            else:
                patch.setattr(atomic_files.os, target.split(".")[1], enospc)
            engine.library.remove([str(more)])  # a change that needs saving
            with pytest.raises(LibraryError) as raised:
                engine.library.save_index()
            assert saved_pair(library) == saved  # the previous pair, whole
            assert not list(library.glob("*.tmp"))  # and the space given back
            hits_while_failing = tops(engine)
        assert raised.value.message.startswith(f"{library / INDEX_NAME}: the vector index ")
        assert "could not be saved (the disk is full)" in raised.value.message
        assert "The documents are safe in the database" in raised.value.message
    with open_engine(library) as engine:
        assert engine.library.consistency_report().ok
        assert tops(engine) == hits_while_failing


def test_a_save_that_fails_on_close_does_not_fail_closing(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = saved_pair(library)
    with open_engine(library) as engine:
        engine.library.remove([str(library.parent / "corpus" / "doc000.md")])
        monkeypatch.setattr(atomic_files.os, "replace", enospc)
    # close() logged the failure instead of raising it; the old pair is untouched, and the
    # next open repairs the index from SQLite.
    monkeypatch.undo()
    assert saved_pair(library) == before
    with open_engine(library) as engine:
        assert engine.library.open_report.removed > 0
        assert engine.library.consistency_report().ok


def test_the_database_filling_up_rolls_back_the_file_and_says_so(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    more = make_corpus(tmp_path / "more", 3)
    with open_engine(library) as engine:
        store = engine.library.store
        pages = store._db().execute("PRAGMA page_count").fetchone()[0]
        ids_before = store.chunk_ids()
        # SQLite's own cap, on every connection the store uses (the ingest stores from its
        # embedding thread): the next pages written fail as SQLITE_FULL.
        connection = store._db

        def capped() -> sqlite3.Connection:
            db = connection()
            db.execute(f"PRAGMA max_page_count = {pages + 1}")
            return db

        monkeypatch.setattr(store, "_db", capped)

        with pytest.raises(LibraryError) as raised:
            engine.ingest([more])

        assert "the disk is full" in raised.value.message
        assert "What was indexed before is kept" in raised.value.message
        assert np.array_equal(store.chunk_ids(), ids_before)
        assert engine.library.consistency_report().ok
    integrity_check(library)
    with open_engine(library) as engine:  # room again (a new connection): the sync finishes
        engine.ingest([more])
        assert len(engine.library.documents()) == 7
        assert engine.library.consistency_report().ok


def test_database_io_errors_read_as_a_library_error() -> None:
    import sqlite3

    from embeddinggemma_rag.core.library.library import library_error

    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorname = "SQLITE_IOERR_WRITE"  # type: ignore[attr-defined]
    message = library_error(Path("/lib"), error).message
    assert message.startswith(f"{Path('/lib') / DB_NAME}: the disk failed to read or write")
