"""Run the benchmarks: `python -m benchmarks [--quick] [--only embed,query,...]`.

Results go to bench-results/ (git-ignored): latest.json, latest.md and timestamped copies.
Needs the `models` and `bench` extras; the full-size models are generated on first use.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import CACHE, RESULTS, Context, Section, load_average, log, machine

# Section name -> module; run in this order (cheap and independent first).
SECTIONS = {
    "embed": "benchmarks.embed_speed",
    "tuning": "benchmarks.embed_tuning",
    "memory": "benchmarks.embed_memory",
    "query": "benchmarks.query_latency",
    "ingest": "benchmarks.ingest_speed",
    "answer": "benchmarks.answer_speed",
    "answer_load": "benchmarks.answer_load",
    "startup": "benchmarks.startup",
    # Not in the default run: it needs a real embedding model and takes an hour the first
    # time (ingesting the sets); `--only retrieval`.
    "retrieval": "benchmarks.retrieval",
    # The relevance threshold measured on the same sets' libraries; `--only relevance`.
    "relevance": "benchmarks.relevance",
    # Second questions of a conversation on XQuAD's libraries; `--only follow_up`.
    "follow_up": "benchmarks.follow_up",
    # Libraries of 10k to 1M passages as the app meets them (open, memory, recall, ingest
    # costs); shares the query section's libraries, and builds 1M the first time (~15 min).
    "scale": "benchmarks.scale",
}
DEFAULT_SECTIONS = [
    name for name in SECTIONS if name not in ("retrieval", "relevance", "follow_up", "scale")
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds (minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=None, help="default: physical cores")
    parser.add_argument(
        "--embedding-model",
        type=Path,
        default=os.environ.get("EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL"),
        help="retrieval, relevance: embedding model folder (default "
        "$EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL, else the real weights' export when made)",
    )
    parser.add_argument(
        "--sets",
        type=Path,
        nargs="*",
        default=[],
        help="retrieval: BEIR folders or folders of them (default ../shared/eval)",
    )
    parser.add_argument(
        "--max-docs",
        type=int,
        default=1500,
        help="retrieval: larger corpora keep their relevant documents plus a seeded sample",
    )
    parser.add_argument(
        "--max-queries",
        type=int,
        default=0,
        help="retrieval: a seeded sample of this many queries per set (default: all)",
    )
    parser.add_argument(
        "--chunk-tokens",
        type=int,
        default=None,
        help="retrieval: chunk size in tokens instead of the app's default",
    )
    parser.add_argument(
        "--chunk-overlap",
        type=int,
        default=None,
        help="retrieval: chunk overlap in tokens instead of the app's default",
    )
    args = parser.parse_args(argv)
    wanted = args.only.split(",") if args.only else DEFAULT_SECTIONS
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    _isolate_from_user_folders()
    from benchmarks.common import real_embedding_model
    from embeddinggemma_rag.core.paths import physical_cores

    ctx = Context(
        quick=args.quick,
        threads=args.threads or physical_cores(),
        embedding_model=args.embedding_model or real_embedding_model(),
        eval_sets=tuple(args.sets),
        max_docs=args.max_docs,
        max_queries=args.max_queries,
        chunk_tokens=args.chunk_tokens,
        chunk_overlap_tokens=args.chunk_overlap,
    )
    header = {"machine": machine(), "threads": ctx.threads, "load_before": load_average()}
    started = time.monotonic()
    sections: list[Section] = []
    failed = []
    for name in wanted:
        section_started = time.monotonic()
        load_before = load_average()
        log(f"== {name}")
        try:
            section = importlib.import_module(SECTIONS[name]).run(ctx)
        except Exception:  # one broken benchmark must not lose the others' figures
            failed.append(name)
            section = Section(name, f"{name}: failed")
            section.details["error"] = traceback.format_exc()
            log(section.details["error"])
        section.seconds = round(time.monotonic() - section_started, 1)
        section.details["load_before"] = load_before
        section.details["load_after"] = load_average()
        sections.append(section)
    header.update(
        load_after=load_average(),
        minutes=(time.monotonic() - started) / 60,
        finished=time.strftime("%Y-%m-%d %H:%M"),
        quick=ctx.quick,
        failed=failed,
    )
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    command += f" --only {args.only}" if args.only else ""
    if {"retrieval", "relevance"} & set(wanted):
        command += f" --max-docs {args.max_docs}" if args.max_docs != 1500 else ""
        command += f" --max-queries {args.max_queries}" if args.max_queries else ""
        command += " --sets " + " ".join(map(str, args.sets)) if args.sets else ""
        command += f" --chunk-tokens {args.chunk_tokens}" if args.chunk_tokens else ""
        command += f" --chunk-overlap {args.chunk_overlap}" if args.chunk_overlap else ""
    from benchmarks import report

    json_path, md_path = report.write(RESULTS, sections, header, command)
    sys.stdout.write(md_path.read_text(encoding="utf-8"))
    log(f"wrote {json_path} and {md_path}")
    return 1 if failed else 0


def _isolate_from_user_folders() -> None:
    """Benchmarks never read or write the user's settings, library or models."""
    home = CACHE / "home"
    os.environ["EMBEDDINGGEMMA_RAG_CONFIG_DIR"] = str(home / "config")
    os.environ["EMBEDDINGGEMMA_RAG_DATA_DIR"] = str(home / "library")
    os.environ["EMBEDDINGGEMMA_RAG_MODELS_DIR"] = str(home / "models")
    os.environ["EMBEDDINGGEMMA_RAG_CACHE_DIR"] = str(home / "cache")
    os.environ.pop("EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL", None)
    os.environ.pop("EMBEDDINGGEMMA_RAG_GENERATOR_MODEL", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


if __name__ == "__main__":
    sys.exit(main())
