"""4. Ingestion: pages/s of the app's parsing (sandboxed) and chunking against plain pypdf text
extraction of the same generated PDFs, and end-to-end chunks/s with the full-size embedder."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    CACHE,
    Context,
    Section,
    ensure_embedding_model,
    load_average,
    log,
)
from benchmarks.corpus import write_pdf_corpus


def run(ctx: Context) -> Section:
    section = Section("ingest", "Ingestion: parse + chunk, and end to end with embedding")
    files, pages = (8, 10) if ctx.quick else (24, 20)
    corpus = write_pdf_corpus(CACHE / "pdfs-typeset" / f"{files}x{pages}", files, pages, seed=1)
    parse = parse_and_chunk(corpus, ctx.repeats(2))
    section.details["parse_and_chunk"] = parse
    app, bare = parse["app_pages_per_s"], parse["pypdf_pages_per_s"]
    section.add(
        f"parse + chunk {files * pages} PDF pages vs pypdf extract_text",
        f"{app:.1f} pages/s",
        f"{bare:.1f} pages/s",
        app / bare,
        "≥ 1× (no slower)",
        app >= bare * 0.98,  # within timing noise of equal
    )
    e2e_files = corpus[: 2 if ctx.quick else 4]
    e2e = end_to_end(e2e_files, ctx.threads)
    section.details["end_to_end"] = e2e
    section.add(
        f"ingest end to end, {e2e['pages']} pages with full-size embedding",
        f"{e2e['chunks_per_s']:.2f} chunks/s ({e2e['pages_per_s']:.2f} pages/s)",
    )
    return section


def parse_and_chunk(paths: list[Path], rounds: int) -> dict[str, Any]:
    """The app's path (ParserWorker in its sandbox process, then chunk_document with the
    real tokenizer) and pypdf alone, alternating file by file so both see the same load."""
    from pypdf import PdfReader

    from embeddinggemma_rag.core.intake.chunking import chunk_document
    from embeddinggemma_rag.core.intake.parsing import ParserWorker
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
    from embeddinggemma_rag.core.settings import Settings

    embedder = OnnxEmbedder(ensure_embedding_model(), threads=1)
    defaults = Settings()  # the app's chunk size and overlap
    count, size, overlap = (
        embedder.count_tokens,
        defaults.chunk_tokens,
        defaults.chunk_overlap_tokens,
    )
    spent = {"app": 0.0, "app_parse": 0.0, "app_chunk": 0.0, "pypdf": 0.0}
    pages = chunks = 0
    with ParserWorker() as worker:
        worker.parse(paths[0])  # start-up of the sandbox process is paid once per ingest
        for round_ in range(rounds):
            log(f"ingest: parse + chunk round {round_ + 1}, load {load_average()}")
            for number, path in enumerate(paths):
                order = ("app", "pypdf") if (number + round_) % 2 == 0 else ("pypdf", "app")
                for what in order:
                    started = time.perf_counter()
                    if what == "pypdf":
                        reader = PdfReader(path)
                        texts = [page.extract_text() for page in reader.pages]
                        spent["pypdf"] += time.perf_counter() - started
                        pages += len(texts)
                        continue
                    # Each round reads the same files: counts remembered from the last round
                    # would flatter the chunker, so its count cache starts empty per file.
                    embedder._counts.clear()
                    parsed = worker.parse(path)
                    parsed_at = time.perf_counter()
                    title = parsed.title or path.stem
                    made = chunk_document(
                        parsed, title, count, size, overlap, embedder.count_tokens_many
                    )
                    done = time.perf_counter()
                    spent["app"] += done - started
                    spent["app_parse"] += parsed_at - started
                    spent["app_chunk"] += done - parsed_at
                    chunks += len(made)
    pages //= rounds
    chunks //= rounds
    return {
        "files": len(paths),
        "pages": pages,
        "chunks": chunks,
        "app_pages_per_s": round(pages * rounds / spent["app"], 2),
        "pypdf_pages_per_s": round(pages * rounds / spent["pypdf"], 2),
        "app_parse_seconds": round(spent["app_parse"] / rounds, 2),
        "app_chunk_seconds": round(spent["app_chunk"] / rounds, 2),
        "pypdf_seconds": round(spent["pypdf"] / rounds, 2),
    }


def end_to_end(paths: list[Path], threads: int) -> dict[str, Any]:
    """`Engine.ingest` into a fresh library: walk, parse, chunk, embed, store, save."""
    from embeddinggemma_rag.core.engine import build_engine
    from embeddinggemma_rag.core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for path in paths:
            shutil.copyfile(path, folder / path.name)
        settings = Settings(
            data_dir=Path(tmp) / "library",
            embedding_model=ensure_embedding_model(),
            threads=threads,
        )
        engine = build_engine(settings)
        try:
            engine.embedder  # loading the model is start-up, not ingestion  # noqa: B018
            log(f"ingest: end to end, {len(paths)} files, load {load_average()}")
            report = engine.ingest([folder])
        finally:
            engine.close()
    pages = sum(1 for _ in paths) * _pages_per_file(paths[0])
    return {
        "files": len(paths),
        "pages": pages,
        "chunks": report.chunks_embedded,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks_embedded / report.seconds, 3),
        "pages_per_s": round(pages / report.seconds, 3),
        "statuses": report.by_status(),
    }


def _pages_per_file(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)
