"""Ingesting a mixed folder end to end with the generated embedding model, real SQLite and FAISS."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.core.intake.parsing.office_factory import docx_paragraph, make_docx, make_odt
from tests.core.intake.parsing.pdf_factory import encrypt_pdf, make_pdf

EXPECTED_STATUS = {
    "report.pdf": "indexed",
    "manual.pdf": "indexed",
    "notes.md": "indexed",
    "plain.txt": "indexed",
    "page.html": "indexed",
    "letter.docx": "indexed",
    "minutes.odt": "indexed",
    "secret.pdf": "failed",
    "broken.pdf": "failed",
    "binary.txt": "failed",
    "empty.txt": "no_text",
    "scan.pdf": "no_text",
    "photo.jpg": "failed",
    "clip.mp3": "skipped",
}


def make_mixed_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pages = [f"Report page {n}. The weather section says it rained on day {n}." for n in (1, 2)]
    pages.append("Page three mentions the zeppelin hangar budget of 12 million.")
    (root / "report.pdf").write_bytes(make_pdf(pages, title="Annual Report"))
    (root / "manual.pdf").write_bytes(
        make_pdf(["Install the printer driver.", "Replace the toner cartridge."], "Manual")
    )
    (root / "notes.md").write_text("# Garden notes\n\nTomatoes need sun.\n", encoding="utf-8")
    (root / "plain.txt").write_text("The invoice total was 420 euros.", encoding="utf-8")
    (root / "page.html").write_text(
        "<html><head><title>Rockets</title></head><body><p>Rockets burn kerosene.</p>"
        "<script>alert(1)</script></body></html>",
        encoding="utf-8",
    )
    (root / "letter.docx").write_bytes(
        make_docx(docx_paragraph("Dear committee, the quokka survey is done."), "Letter")
    )
    (root / "minutes.odt").write_bytes(
        make_odt("<text:p>Minutes: the narwhal exhibit opens in May.</text:p>", "Minutes")
    )
    (root / "secret.pdf").write_bytes(
        encrypt_pdf(make_pdf(["hidden"]), "user-pw", "owner-pw", "AES-256")
    )
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (root / "empty.txt").write_bytes(b"")
    (root / "scan.pdf").write_bytes(make_pdf(["", ""]))
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    (root / "clip.mp3").write_bytes(b"ID3" + b"\0" * 100)
    return root


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    settings = Settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        threads=1,
        chunk_tokens=128,
        chunk_overlap_tokens=16,
    )
    engine = build_engine(settings)
    yield engine
    engine.close()


def statuses(engine: Engine) -> dict[str, str]:
    return {Path(d.path).name: str(d.status) for d in engine.status().documents}


def test_mixed_folder_gets_the_right_status_for_each_file(engine: Engine, tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    report = engine.ingest([folder])
    assert statuses(engine) == EXPECTED_STATUS
    reasons = {Path(o.path).name: o.reason or "" for o in report.outcomes}
    assert "password" in reasons["secret.pdf"]
    assert "PDF" in reasons["broken.pdf"]
    assert "binary" in reasons["binary.txt"]
    assert "scanned" in reasons["scan.pdf"]
    assert "not a valid image" in reasons["photo.jpg"]
    assert "unsupported" in reasons["clip.mp3"]
    assert engine.library.consistency_report().ok


def test_search_finds_the_right_file_and_page(engine: Engine, tmp_path: Path) -> None:
    engine.ingest([make_mixed_folder(tmp_path / "docs")])
    for mode in ("keyword", "hybrid"):
        hits = engine.search("zeppelin hangar", k=3, mode=mode)
        assert Path(hits[0].path).name == "report.pdf", mode
        assert hits[0].page == 3
        assert hits[0].title == "Annual Report"
        assert "zeppelin" in hits[0].text
    # Keyword mode: hybrid weighs the cosine 0.95, and the test model's cosines are noise.
    narwhal = engine.search("narwhal", k=1, mode="keyword")[0]
    assert Path(narwhal.path).name == "minutes.odt" and narwhal.page is None
    scoped = engine.search("zeppelin", k=5, mode="hybrid", scope=tmp_path / "docs" / "manual.pdf")
    assert {Path(h.path).name for h in scoped} == {"manual.pdf"}


def test_the_report_says_where_the_time_went(engine: Engine, tmp_path: Path) -> None:
    first = engine.ingest([make_mixed_folder(tmp_path / "docs")])
    phases = first.phase_seconds
    assert set(phases) == {"walk", "parse", "chunk", "embed", "store"}
    assert all(phases[name] > 0 for name in phases), phases
    assert sum(phases.values()) <= first.seconds
    # Nothing changed: no file is parsed, chunked or embedded the second time.
    again = engine.ingest([tmp_path / "docs"]).phase_seconds
    assert again["parse"] == again["chunk"] == again["embed"] == 0.0


def test_an_ingest_that_changes_nothing_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    engine.ingest([folder])
    data = engine.settings.data_dir

    def written() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in data.iterdir()}

    before = written()
    assert "vectors.faiss" in before
    engine.ingest([folder])
    engine.rescan()
    assert written() == before  # the index file can be gigabytes: never rewritten for nothing
    (folder / "plain.txt").write_text("The invoice total was 430 euros.", encoding="utf-8")
    engine.ingest([folder])
    assert written()["vectors.faiss"] != before["vectors.faiss"]


def test_second_ingest_embeds_nothing_and_an_edit_embeds_one_file(
    engine: Engine, tmp_path: Path
) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    first = engine.ingest([folder])
    assert first.chunks_embedded > 0
    again = engine.ingest([folder])
    assert again.chunks_embedded == 0
    assert not any(o.embedded for o in again.outcomes)

    notes = folder / "notes.md"
    notes.write_text("# Garden notes\n\nTomatoes need sun and the axolotl pond.\n", "utf-8")
    edited = engine.ingest([folder])
    assert [Path(o.path).name for o in edited.outcomes if o.embedded] == ["notes.md"]
    assert "axolotl" in engine.search("axolotl", k=1, mode="keyword")[0].text

    # Touched but unchanged content keeps its vectors.
    os.utime(folder / "plain.txt", ns=(1, 1))
    touched = engine.ingest([folder])
    assert touched.chunks_embedded == 0


def test_deleting_a_file_removes_its_chunks(engine: Engine, tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    engine.ingest([folder])
    _, before = engine.library.counts()
    (folder / "report.pdf").unlink()
    report = engine.ingest([folder])
    assert [Path(p).name for p in report.removed] == ["report.pdf"]
    _, after = engine.library.counts()
    assert after < before
    assert engine.search("zeppelin", k=3, mode="keyword") == []
    assert engine.library.consistency_report().ok


def test_remove_forgets_a_folder_but_not_the_files(engine: Engine, tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    engine.ingest([folder])
    removed = engine.remove([folder])
    assert len(removed) == len(EXPECTED_STATUS)
    assert engine.status().documents == [] and engine.status().chunks == 0
    assert (folder / "report.pdf").exists()
    assert engine.library.sources() == []


def test_no_chunk_passes_its_token_limit(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    long_text = "\n\n".join(
        " ".join(f"Sentence {p}.{s} speaks of item{s} and thing{p}." for s in range(40))
        for p in range(30)
    )
    (folder / "long.txt").write_text(long_text + " " + "x" * 30000, encoding="utf-8")
    engine.ingest([folder])
    chunks = engine.library.store.chunks_by_ids(engine.library.store.chunk_ids())
    assert len(chunks) > 20
    embedder = engine.embedder
    for chunk in chunks:
        tokens = embedder.count_tokens(embedder.document_input("long", chunk.text))
        assert tokens <= 128 <= 2048


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    from embeddinggemma_rag.core.errors import ModelError

    engine = build_engine(Settings(data_dir=tmp_path / "lib", embedding_model=tmp_path / "none"))
    with pytest.raises(ModelError, match="none"):
        engine.ingest([tmp_path])


def test_files_in_a_copied_folder_are_separate_documents(engine: Engine, tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path / "docs")
    shutil.copytree(folder, tmp_path / "copy")
    engine.ingest([folder, tmp_path / "copy"])
    assert len(engine.status().documents) == 2 * len(EXPECTED_STATUS)


def test_an_unexpected_error_fails_one_file_and_the_rest_goes_on(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddinggemma_rag.core.intake import ingestion

    folder = make_mixed_folder(tmp_path / "docs")
    real = ingestion.chunk_document

    def flaky(document, title, *args, **kwargs):  # type: ignore[no-untyped-def]
        if title == "Manual":
            raise RuntimeError("chunker bug")
        return real(document, title, *args, **kwargs)

    monkeypatch.setattr(ingestion, "chunk_document", flaky)
    report = engine.ingest([folder])
    by_name = {Path(o.path).name: o for o in report.outcomes}
    assert by_name["manual.pdf"].status == "failed"
    assert "RuntimeError: chunker bug" in (by_name["manual.pdf"].reason or "")
    assert by_name["report.pdf"].status == "indexed"
    assert by_name["notes.md"].status == "indexed"


@pytest.mark.parametrize("query", ["?!… ((", '" AND ( OR *', "გამარჯობა მსოფლიო"])
def test_a_query_keywords_cannot_match_gets_vector_results_and_no_error(
    engine: Engine, tmp_path: Path, query: str
) -> None:
    """All punctuation, FTS5 syntax, a script the library never saw: keyword search finds
    nothing (never an FTS5 syntax error) and hybrid ranks by the vectors alone."""
    engine.ingest([make_mixed_folder(tmp_path / "docs")])
    assert engine.search(query, k=3, mode="keyword") == []
    hybrid = engine.search(query, k=3, mode="hybrid")
    vector = engine.search(query, k=3, mode="vector")
    assert len(hybrid) == 3
    assert [h.chunk_id for h in hybrid] == [h.chunk_id for h in vector]


def test_a_query_of_common_words_only_still_searches(engine: Engine, tmp_path: Path) -> None:
    engine.ingest([make_mixed_folder(tmp_path / "docs")])
    for mode in ("keyword", "hybrid"):
        hits = engine.search("the of and is was", k=3, mode=mode)
        assert hits and all(h.text for h in hits), mode


def test_the_next_files_are_parsed_while_a_batch_embeds(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing overlaps embedding: with a batch every two files and an embedder slowed to
    0.3 s a batch, files are parsed while a batch embeds, and every file is stored whole."""
    from embeddinggemma_rag.core.intake import ingestion

    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(8):
        (folder / f"note{n}.md").write_text(f"# Note {n}\n\nThe heron {n} nests here.\n")
    monkeypatch.setattr(ingestion, "FLUSH_FILES", 2)
    embedder, parser = engine.embedder, engine._parser_worker()
    spans: dict[str, list[tuple[float, float]]] = {"embed": [], "parse": []}
    real_embed, real_parse = embedder.embed, parser.parse

    def timed(kind: str, call, pause: float = 0.0):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.monotonic()
            result = call(*args, **kwargs)
            time.sleep(pause)  # a real model's batch takes this long, the tiny one's 1 ms
            spans[kind].append((started, time.monotonic()))
            return result

        return wrapper

    monkeypatch.setattr(embedder, "embed", timed("embed", real_embed, 0.3))
    monkeypatch.setattr(parser, "parse", timed("parse", real_parse))
    report = engine.ingest([folder])

    assert report.by_status()["indexed"] == 8 and report.chunks_embedded >= 8
    inside = [
        p for p in spans["parse"] if any(e0 < p[0] and p[1] < e1 for e0, e1 in spans["embed"])
    ]
    assert inside, spans  # in series, no parse would start and end inside an embedding
    assert engine.library.consistency_report().ok
    hits = engine.search("heron 5", k=8, mode="keyword")
    assert "note5.md" in {Path(h.path).name for h in hits}
