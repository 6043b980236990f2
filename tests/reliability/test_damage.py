"""Damaged library files: the vector index is rebuilt from SQLite; a damaged database is
refused at open with one clear message and a way out (`Library.recover`), never a crash loop."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from embeddinggemma_rag.core.library.library import (
    DB_NAME,
    INDEX_NAME,
    SIDECAR_NAME,
    DamagedLibrary,
    Library,
)
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.reliability.helpers import REPO, cli_env, open_engine, run_cli
from tests.reliability.test_kills import make_corpus

GUI_START = Path(__file__).parent / "gui_start.py"
QUERIES = ["topic 3 details", "appendix seven", "measurement 12"]
Damage = Callable[[Path], None]


def flip(path: Path, offset: int, count: int = 1) -> None:
    data = bytearray(path.read_bytes())
    for at in range(offset, offset + count):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def top_results(data_dir: Path) -> list[list[str]]:
    with open_engine(data_dir) as engine:
        return [
            [f"{Path(h.path).name}:{h.char_start}" for h in engine.search(q, k=5)] for q in QUERIES
        ]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[list[str]]]:
    """(library, corpus, top results): built once, copied by each test."""
    root = tmp_path_factory.mktemp("damage")
    corpus = make_corpus(root / "corpus", 6)
    library = root / "library"
    with open_engine(library) as engine:
        engine.ingest([corpus])
    return library, corpus, top_results(library)


@pytest.fixture()
def library(healthy: tuple[Path, Path, list[list[str]]], tmp_path: Path) -> Path:
    copy = tmp_path / "library"
    shutil.copytree(healthy[0], copy)
    return copy


def page_offset(page: int) -> int:
    """Where a page's b-tree header starts (4 KB pages, numbered from 1; the schema creates
    meta, sources, documents, chunks in that order, so their root pages are 2, 4, 6, 8)."""
    return 4096 * (page - 1) + 8


def index_file(data_dir: Path) -> Path:
    return data_dir / INDEX_NAME


def size_of(path: Path) -> int:
    return path.stat().st_size


INDEX_DAMAGE: dict[str, Damage] = {
    "truncated": lambda d: index_file(d).write_bytes(index_file(d).read_bytes()[:1000]),
    "emptied": lambda d: index_file(d).write_bytes(b""),
    "missing": lambda d: index_file(d).unlink(),
    "header bit flipped": lambda d: flip(index_file(d), 2),
    "vector bit flipped": lambda d: flip(index_file(d), size_of(index_file(d)) // 2),
    "id bit flipped": lambda d: flip(index_file(d), size_of(index_file(d)) - 20),
    "garbage of the same size": lambda d: index_file(d).write_bytes(
        random.Random(5).randbytes(size_of(index_file(d)))
    ),
    "description missing": lambda d: (d / SIDECAR_NAME).unlink(),
    "description garbage": lambda d: (d / SIDECAR_NAME).write_bytes(b"\x00{garbage"),
    "description a list": lambda d: (d / SIDECAR_NAME).write_text("[]"),
    "description of wrong types": lambda d: (d / SIDECAR_NAME).write_text(
        '{"file_size": "big", "crc32": [], "dimension": null, "ntotal": -1}'
    ),
    "description of another library": lambda d: (d / SIDECAR_NAME).write_text(
        json.dumps({**json.loads((d / SIDECAR_NAME).read_text()), "library_id": "other"})
    ),
}


@pytest.mark.parametrize("damage", INDEX_DAMAGE.values(), ids=INDEX_DAMAGE.keys())
def test_a_damaged_index_is_rebuilt_from_sqlite(
    damage: Damage, library: Path, healthy: tuple[Path, Path, list[list[str]]]
) -> None:
    damage(library)

    with open_engine(library) as engine:
        report = engine.library.open_report
        assert report.rebuilt, report
        assert report.vectors > 0
        assert engine.library.consistency_report().ok
    assert top_results(library) == healthy[2]
    with open_engine(library) as engine:  # the rebuilt index was saved: the next open loads it
        assert not engine.library.open_report.rebuilt


def test_a_stale_index_from_an_earlier_save_is_brought_up_to_date(
    tmp_path: Path, healthy: tuple[Path, Path, list[list[str]]]
) -> None:
    """The pair an earlier save left (a kill after SQLite commits, before the next save)."""
    data_dir, corpus = tmp_path / "library", healthy[1]
    first_half = tmp_path / "half"
    first_half.mkdir()
    for path in sorted(corpus.iterdir())[:3]:
        shutil.copy(path, first_half)
    with open_engine(data_dir) as engine:
        engine.ingest([first_half])
    stale = {name: (data_dir / name).read_bytes() for name in (INDEX_NAME, SIDECAR_NAME)}
    with open_engine(data_dir) as engine:
        engine.ingest([corpus])
        engine.remove([first_half])
    for name, data in stale.items():
        (data_dir / name).write_bytes(data)

    with open_engine(data_dir) as engine:
        report = engine.library.open_report
        assert not report.rebuilt and report.added > 0 and report.removed > 0, report
        assert engine.library.consistency_report().ok
    assert top_results(data_dir) == healthy[2]


def test_a_temporary_file_left_by_a_killed_save_is_ignored(
    library: Path, healthy: tuple[Path, Path, list[list[str]]]
) -> None:
    (library / f"{INDEX_NAME}.tmp").write_bytes(b"half a save")
    (library / f"{SIDECAR_NAME}.tmp").write_bytes(b"{")

    with open_engine(library) as engine:
        assert engine.library.open_report.describe() == "The vector index was loaded as saved."
        engine.library.save_index()  # the next save writes over what the kill left
    assert top_results(library) == healthy[2]


def test_a_damaged_write_ahead_log_loses_only_its_own_commits(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", 6)
    data_dir, copy = tmp_path / "library", tmp_path / "copy"
    with open_engine(data_dir) as engine:
        engine.ingest(sorted(corpus.iterdir())[:3])  # closing checkpoints these into the file
    with open_engine(data_dir) as engine:
        engine.ingest([corpus])
        # A copy taken while the app runs: the last commits live in the -wal file only.
        shutil.copytree(data_dir, copy)
    wal = copy / f"{DB_NAME}-wal"
    assert wal.exists() and wal.stat().st_size > 0
    flip(wal, 32, 64)  # the first frame's header: SQLite's checksums reject it and all after

    with open_engine(copy) as engine:
        library = engine.library
        assert library.open_report.removed > 0  # FAISS had the lost commits' vectors
        assert library.consistency_report().ok
        assert len(library.documents()) == 3
        engine.ingest([corpus])  # and the next sync brings the lost files back
        assert len(library.documents()) == 6
        assert library.consistency_report().ok


def test_a_library_killed_before_its_first_checkpoint_is_not_taken_for_damage(
    tmp_path: Path,
) -> None:
    """In WAL mode the main file stays empty until the first checkpoint: sound, not lost."""
    corpus = make_corpus(tmp_path / "corpus", 3)
    data_dir, copy = tmp_path / "library", tmp_path / "copy"
    with open_engine(data_dir) as engine:
        engine.ingest([corpus])
        shutil.copytree(data_dir, copy)  # what a kill leaves
    assert (copy / DB_NAME).stat().st_size <= 4096  # the header page only: all is in the WAL

    with open_engine(copy) as engine:
        assert len(engine.library.documents()) == 3
        assert engine.library.consistency_report().ok


DATABASE_DAMAGE: dict[str, Damage] = {
    "garbage header": lambda d: flip(d / DB_NAME, 0, 16),
    "truncated": lambda d: (d / DB_NAME).write_bytes((d / DB_NAME).read_bytes()[:8192]),
    "corrupted b-tree page": lambda d: flip(d / DB_NAME, page_offset(6), 64),  # documents
    "emptied beside its index": lambda d: (d / DB_NAME).write_bytes(b""),
    "random bytes": lambda d: (d / DB_NAME).write_bytes(random.Random(6).randbytes(65536)),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DATABASE_DAMAGE.values(), ids=DATABASE_DAMAGE.keys())
def test_a_damaged_database_is_refused_clearly_then_recovered(
    damage: Damage, library: Path, healthy: tuple[Path, Path, list[list[str]]]
) -> None:
    damage(library)
    damaged_bytes = (library / DB_NAME).read_bytes()

    with pytest.raises(DamagedLibrary) as raised, open_engine(library) as engine:
        _ = engine.library
    assert "the library database is damaged" in raised.value.message
    assert "embeddinggemma-rag recover" in raised.value.message

    for _ in range(2):  # every start says the same, in one line: no traceback, no crash loop
        status = run_cli(library, "status")
        assert status.returncode == 1
        assert status.stderr.count("\n") == 1, status.stderr
        assert status.stderr.startswith("embeddinggemma-rag: error: ")
        assert "the library database is damaged" in status.stderr
        assert "Traceback" not in status.stderr + status.stdout

    aside = Library.recover(library)
    assert aside.read_bytes()[:16] == damaged_bytes[:16]  # kept, never deleted
    assert not (library / INDEX_NAME).exists()
    assert run_cli(library, "status").returncode == 0

    with open_engine(library) as engine:
        assert engine.library.documents() == []
        engine.ingest([healthy[1]])
        assert engine.library.consistency_report().ok
    assert top_results(library) == healthy[2]


def test_recover_keeps_the_added_folders_when_that_table_is_readable(
    library: Path, healthy: tuple[Path, Path, list[list[str]]]
) -> None:
    flip(library / DB_NAME, page_offset(8), 64)  # the chunks' root page; sources are on page 4
    with pytest.raises(DamagedLibrary), open_engine(library) as engine:
        _ = engine.library

    Library.recover(library)

    with open_engine(library) as engine:
        assert engine.library.sources() == [str(healthy[1])]
        report = engine.rescan()  # a sync indexes the folders again
        assert report.by_status()["indexed"] == 6
    assert top_results(library) == healthy[2]


@pytest.mark.slow
def test_the_desktop_app_starts_and_says_so_on_a_damaged_library(library: Path) -> None:
    """No crash and no crash loop: the window comes up and shows the damage."""
    flip(library / DB_NAME, 0, 16)
    env = cli_env(
        QT_QPA_PLATFORM="offscreen",
        EMBEDDINGGEMMA_RAG_DATA_DIR=str(library),
        EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL=str(TINY_EMBEDDING_MODEL),
        EMBEDDINGGEMMA_RAG_GENERATOR_MODEL=str(TINY_CHAT_MODEL),
    )
    for _ in range(2):  # and again at the next start
        done = subprocess.run(
            [sys.executable, str(GUI_START), "60"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        shown = [line for line in done.stdout.splitlines() if line.startswith("SHOWN ")]
        assert shown and all("the library database is damaged" in line for line in shown)
        assert "EXIT 0" in done.stdout and "DEADLINE" not in done.stdout
