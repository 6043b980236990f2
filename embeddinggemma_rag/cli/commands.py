"""One function per command; each builds the engine from the settings and reports plainly."""

from __future__ import annotations

import argparse
import collections
import dataclasses
from collections.abc import Callable

from embeddinggemma_rag.cli import bench_command
from embeddinggemma_rag.cli.model_commands import cmd_ask, cmd_models, cmd_self_test
from embeddinggemma_rag.cli.output import ProgressLine, print_json
from embeddinggemma_rag.core.engine import (
    Engine,
    build_engine,
    document_json,
    load_settings,
    passage_json,
    recover_library,
)
from embeddinggemma_rag.core.records import CancelToken, FileOutcome, RagError, Settings


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        embedding_model=getattr(args, "embedding_model", None),
        generator_model=getattr(args, "generator_model", None),
    )


def run(args: argparse.Namespace) -> int:
    command = args.command or "gui"
    handler = HANDLERS[command]
    return handler(args)


def _with_engine(args: argparse.Namespace, work: Callable[[Engine], int]) -> int:
    engine = build_engine(settings_from(args))
    try:
        return work(engine)
    finally:
        engine.close()


def cmd_gui(args: argparse.Namespace) -> int:
    from embeddinggemma_rag.gui.app import run_app

    return run_app(settings_from(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise RagError(f"{missing[0]}: no such file or folder")
    progress = ProgressLine()

    def on_file(outcome: FileOutcome) -> None:
        if args.json:
            return
        if outcome.embedded or outcome.status != "indexed":
            detail = f" ({outcome.reason})" if outcome.reason else ""
            chunks = f", {_count(outcome.chunks, 'chunk')}" if outcome.status == "indexed" else ""
            progress.above(f"{outcome.status:8} {outcome.path}{chunks}{detail}")

    def work(engine: Engine) -> int:
        report = engine.ingest(args.paths, CancelToken(), progress.update, on_file)
        progress.clear()
        counts = report.by_status()
        rate = report.chunks_embedded / report.seconds if report.seconds else 0.0
        if args.json:
            print_json(
                {
                    "files": [dataclasses.asdict(o) for o in report.outcomes],
                    "by_status": counts,
                    "removed": report.removed,
                    "chunks_embedded": report.chunks_embedded,
                    "seconds": round(report.seconds, 3),
                    "chunks_per_second": round(rate, 2),
                }
            )
        else:
            unchanged = sum(1 for o in report.outcomes if not o.embedded and o.status == "indexed")
            summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
            print(
                f"{len(report.outcomes)} files: {summary or 'none'}; {unchanged} unchanged; "
                f"{len(report.removed)} removed; {report.chunks_embedded} chunks embedded in "
                f"{report.seconds:.1f} s ({rate:.1f} chunks/s)"
            )
        return 0

    return _with_engine(args, work)


def cmd_remove(args: argparse.Namespace) -> int:
    def work(engine: Engine) -> int:
        removed = engine.remove(args.paths)
        print(f"removed {len(removed)} documents from the library")
        return 0

    return _with_engine(args, work)


def cmd_search(args: argparse.Namespace) -> int:
    def work(engine: Engine) -> int:
        hits = engine.search(args.query, k=args.k, mode=args.mode, scope=args.scope)
        if args.json:
            print_json({"query": args.query, "hits": [passage_json(h) for h in hits]})
            return 0
        if not hits:
            print("no passages found")
        for rank, hit in enumerate(hits, 1):
            page = f", page {hit.page}" if hit.page else ""
            page += f" ({hit.page_label})" if hit.page_label else ""
            page += " [OCR]" if hit.ocr else ""
            snippet = " ".join(hit.text.split())[:200]
            print(f"{rank}. {hit.path}{page}  (score {hit.score:.3f})\n   {snippet}")
        return 0

    return _with_engine(args, work)


def cmd_embed(args: argparse.Namespace) -> int:
    def work(engine: Engine) -> int:
        try:
            vectors = engine.embed(args.texts, args.prompt, args.title, args.dim)
        except ValueError as error:
            raise RagError(str(error)) from error
        if args.json:
            print_json(
                {
                    "prompt": args.prompt,
                    "dimension": args.dim,
                    "vectors": [[float(x) for x in row] for row in vectors],
                }
            )
        else:
            for text, row in zip(args.texts, vectors, strict=True):
                head = " ".join(f"{x:+.4f}" for x in row[:6])
                print(f"{text[:40]!r}: [{head} ...] ({len(row)} dimensions)")
        return 0

    return _with_engine(args, work)


def cmd_status(args: argparse.Namespace) -> int:
    def work(engine: Engine) -> int:
        status = engine.status()
        documents = [document_json(d, status.ocr_pages.get(d.path, 0)) for d in status.documents]
        if args.json:
            print_json(
                {
                    "data_dir": str(status.data_dir),
                    "documents": documents,
                    "chunks": status.chunks,
                    "sources": status.sources,
                    "embedding_model": status.embedding_model,
                    "dimension": status.dimension,
                }
            )
            return 0
        print(f"library: {status.data_dir}")
        print(f"embedding model: {status.embedding_model} ({status.dimension} dimensions)")
        # As the window counts: files listed, documents indexed among them, and passages.
        by_status = collections.Counter(str(doc["status"]) for doc in documents)
        summary = ", ".join(f"{n} {state}" for state, n in sorted(by_status.items()))
        files, chunks = _count(len(documents), "file"), _count(status.chunks, "chunk")
        print(f"{files} ({summary or 'none'}), {chunks}")
        for doc in documents:
            reason = f" ({doc['reason']})" if doc["reason"] else ""
            if doc["ocr_pages"]:
                reason += f" [OCR: {doc['ocr_pages']} page(s)]"
            print(f"  {doc['status']:8} {doc['chunks']:5} {doc['path']}{reason}")
        return 0

    return _with_engine(args, work)


def cmd_recover(args: argparse.Namespace) -> int:
    aside = recover_library(settings_from(args).data_dir)
    print(
        f"the damaged database was moved to {aside}; an empty library starts with the "
        "folders it had. Run `embeddinggemma-rag ingest` on them (or Re-scan in the app)."
    )
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """The library for MCP clients over stdio; stdout carries the protocol only."""
    from embeddinggemma_rag.server.mcp_server import serve

    return serve(build_engine(settings_from(args), read_only=True))


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "gui": cmd_gui,
    "mcp": cmd_mcp,
    "ingest": cmd_ingest,
    "remove": cmd_remove,
    "search": cmd_search,
    "embed": cmd_embed,
    "status": cmd_status,
    "recover": cmd_recover,
    "ask": cmd_ask,
    "models": cmd_models,
    "self-test": cmd_self_test,
    "bench": bench_command.cmd_bench,
}


def _count(count: int, word: str) -> str:
    """'1 chunk', '546 chunks'."""
    return f"{count} {word}{'' if count == 1 else 's'}"
