"""The library commands as a user runs them: ingest, status, search, embed, remove."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_EMBEDDING_MODEL


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embeddinggemma_rag", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture()
def library(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "boiler.md").write_text("# Boiler\n\nHold the reset button for ten seconds.\n")
    (docs / "garden.txt").write_text("Water the tomatoes every morning in July.")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    return docs, tmp_path / "library"


def run_with_env(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["EMBEDDINGGEMMA_RAG_DATA_DIR"] = str(data_dir)
    env["EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL"] = str(TINY_EMBEDDING_MODEL)
    return cli(*args, env=env)


def test_ingest_status_search_remove(library: tuple[Path, Path]) -> None:
    docs, data_dir = library
    ingest = run_with_env(data_dir, "ingest", str(docs))
    assert ingest.returncode == 0, ingest.stderr
    assert "3 files: 2 indexed, 1 failed" in ingest.stdout
    assert "blob.txt" in ingest.stdout and "binary" in ingest.stdout
    assert "chunks/s" in ingest.stdout
    assert ", 1 chunk\n" in ingest.stdout and ", 1 chunks" not in ingest.stdout
    # As the window counts: the files listed and which of them were indexed.
    assert "3 files (1 failed, 2 indexed), 2 chunks" in run_with_env(data_dir, "status").stdout

    status = json.loads(run_with_env(data_dir, "status", "--json").stdout)
    assert status["dimension"] == 768
    assert status["embedding_model"].startswith("sha256:")
    assert status["chunks"] == 2
    by_name = {Path(d["path"]).name: d for d in status["documents"]}
    assert by_name["blob.txt"]["status"] == "failed" and by_name["blob.txt"]["reason"]
    assert by_name["boiler.md"] == {**by_name["boiler.md"], "status": "indexed", "chunks": 1}
    assert set(by_name["garden.txt"]) >= {"path", "status", "reason", "chunks"}

    found = run_with_env(data_dir, "search", "reset button", "--json", "-k", "1")
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 1
    assert Path(hits[0]["path"]).name == "boiler.md"
    assert set(hits[0]) >= {"path", "title", "page", "score", "text", "chunk_id"}
    assert hits[0]["title"] == "Boiler" and hits[0]["page"] is None

    plain = run_with_env(data_dir, "search", "tomatoes", "--mode", "keyword")
    assert "garden.txt" in plain.stdout

    removed = run_with_env(data_dir, "remove", str(docs / "garden.txt"))
    assert removed.returncode == 0 and "removed 1" in removed.stdout
    after = json.loads(run_with_env(data_dir, "status", "--json").stdout)
    assert "garden.txt" not in {Path(d["path"]).name for d in after["documents"]}


def test_embed_prints_unit_vectors_per_prompt_and_dimension(tmp_path: Path) -> None:
    model = ["--embedding-model", str(TINY_EMBEDDING_MODEL)]
    doc = json.loads(cli(*model, "embed", "boiler reset", "other", "--json").stdout)
    assert len(doc["vectors"]) == 2 and len(doc["vectors"][0]) == 768
    query = json.loads(cli(*model, "embed", "boiler reset", "--prompt", "query", "--json").stdout)
    small = json.loads(cli(*model, "embed", "boiler reset", "--dim", "128", "--json").stdout)
    titled = json.loads(cli(*model, "embed", "boiler reset", "--title", "Manual", "--json").stdout)
    vectors = [np.array(v["vectors"][0]) for v in (doc, query, small, titled)]
    for vector in vectors:
        assert abs(np.linalg.norm(vector) - 1) < 1e-4
    assert len(vectors[2]) == 128
    assert not np.allclose(vectors[0], vectors[1])  # the prompt changes the vector
    assert not np.allclose(vectors[0], vectors[3])  # and so does the title
    sts = cli(*model, "embed", "x", "--prompt", "STS", "--json")
    assert sts.returncode == 0
    bad = cli(*model, "embed", "x", "--prompt", "nonsense")
    assert bad.returncode == 1 and "unknown prompt" in bad.stderr and "Traceback" not in bad.stderr


def test_a_damaged_library_is_reported_then_recovered(library: tuple[Path, Path]) -> None:
    docs, data_dir = library
    assert run_with_env(data_dir, "ingest", str(docs)).returncode == 0
    database = data_dir / "library.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 300)

    broken = run_with_env(data_dir, "status")
    assert broken.returncode == 1
    assert "damaged" in broken.stderr and "embeddinggemma-rag recover" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1

    recovered = run_with_env(data_dir, "recover")
    assert recovered.returncode == 0, recovered.stderr
    assert list(data_dir.glob("library.sqlite3.damaged-*"))
    assert run_with_env(data_dir, "ingest", str(docs)).returncode == 0
    status = json.loads(run_with_env(data_dir, "status", "--json").stdout)
    assert status["chunks"] == 2


def test_a_closed_pipe_is_not_an_error(library: tuple[Path, Path]) -> None:
    docs, data_dir = library
    assert run_with_env(data_dir, "ingest", str(docs)).returncode == 0
    env = dict(
        os.environ,
        EMBEDDINGGEMMA_RAG_DATA_DIR=str(data_dir),
        EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL=str(TINY_EMBEDDING_MODEL),
    )
    reader = subprocess.Popen(
        [sys.executable, "-m", "embeddinggemma_rag", "status"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert reader.stdout is not None
    reader.stdout.close()  # like `| head` that has read enough
    _, stderr = reader.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr


@pytest.mark.slow
def test_ocr_passages_are_marked_in_status_and_search(tmp_path: Path) -> None:
    from tests.core.intake.parsing.scan_factory import make_scanned_pdf

    docs, data_dir = tmp_path / "docs", tmp_path / "library"
    docs.mkdir()
    (docs / "scan.pdf").write_bytes(make_scanned_pdf([["Replacement bearings were ordered."]]))
    (docs / "typed.txt").write_text("The typed note says the bearings arrived.")
    assert run_with_env(data_dir, "ingest", str(docs)).returncode == 0

    status = json.loads(run_with_env(data_dir, "status", "--json").stdout)
    ocr_pages = {Path(d["path"]).name: d["ocr_pages"] for d in status["documents"]}
    assert ocr_pages == {"scan.pdf": 1, "typed.txt": 0}
    assert "[OCR: 1 page(s)]" in run_with_env(data_dir, "status").stdout

    found = run_with_env(data_dir, "search", "bearings", "--json", "--mode", "keyword")
    marks = {Path(h["path"]).name: (h["ocr"], h["page"]) for h in json.loads(found.stdout)["hits"]}
    assert marks == {"scan.pdf": (True, 1), "typed.txt": (False, None)}
    plain = run_with_env(data_dir, "search", "replacement bearings", "--mode", "keyword").stdout
    assert "scan.pdf, page 1 [OCR]" in plain
