"""`self-test`: ingest a built-in sample, search it and answer from it, with timings."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

from embeddinggemma_rag.core.errors import RagError
from embeddinggemma_rag.core.settings import Settings

# Package data, read through importlib.resources so a frozen app finds it too.
SAMPLE_FOLDER = ("resources", "sample")
SAMPLE_QUESTION = "How long is the warranty of the Aurora K2 kettle?"
SAMPLE_KEYWORDS = "Aurora kettle warranty"
SAMPLE_EXPECTED_FILE = "kettle-manual.md"

T = TypeVar("T")


@dataclass
class SelfTestReport:
    """Seconds per step, and what each found."""

    seconds: dict[str, float] = field(default_factory=dict)
    files: int = 0
    chunks: int = 0
    answer_tokens: int = 0
    answer: str = ""


def copy_sample(target: Path) -> list[Path]:
    """Write the built-in sample documents into `target` (parsers need real files)."""
    source = resources.files("embeddinggemma_rag").joinpath(*SAMPLE_FOLDER)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("."):
            path = target / item.name
            path.write_bytes(item.read_bytes())
            written.append(path)
    if not written:
        raise RagError("self-test: the built-in sample documents are missing from this build")
    return sorted(written)


def run_self_test(settings: Settings, report: Callable[[str], None] = print) -> SelfTestReport:
    """Run the whole path in a throw-away library; RagError (or ModelError) on any failure."""
    from embeddinggemma_rag.core.engine import build_engine  # it imports this module

    result = SelfTestReport()
    with tempfile.TemporaryDirectory(prefix="embeddinggemma-rag-self-test-") as tmp:
        sample = Path(tmp) / "sample"
        files = copy_sample(sample)
        engine = build_engine(settings.replace(data_dir=Path(tmp) / "library"))
        # The self-test checks the machinery, not the models' judgement: the answer step runs
        # even with test models whose random weights make every cosine meaningless.
        engine.relevance_threshold = -1.0
        try:
            _timed(result, "load embedding model", lambda: engine.embedder, report)
            ingest = _timed(result, "ingest sample", lambda: engine.ingest([sample]), report)
            failed = [o for o in ingest.outcomes if o.status != "indexed"]
            if failed or len(ingest.outcomes) != len(files):
                bad = failed[0] if failed else None
                detail = f"{bad.path}: {bad.status} ({bad.reason})" if bad else "missing files"
                raise RagError(f"self-test: ingesting the sample failed: {detail}")
            result.files, result.chunks = len(files), ingest.chunks_embedded
            report(f"  {result.files} files, {result.chunks} chunks")

            hits = _timed(
                result,
                "keyword search",
                lambda: engine.search(SAMPLE_KEYWORDS, mode="keyword"),
                report,
            )
            if not hits or Path(hits[0].path).name != SAMPLE_EXPECTED_FILE:
                raise RagError("self-test: keyword search did not find the sample's kettle manual")
            hits = _timed(result, "hybrid search", lambda: engine.search(SAMPLE_QUESTION), report)
            if not hits or hits[0].similarity is None:
                raise RagError("self-test: hybrid search found no passage")

            _timed(result, "load generator model", lambda: engine.generator, report)
            pieces: list[str] = []
            answer = _timed(
                result,
                "answer",
                lambda: engine.ask(SAMPLE_QUESTION, on_token=pieces.append),
                report,
            )
        finally:
            engine.close()
    if not pieces:
        raise RagError("self-test: the generator model wrote no answer")
    result.answer_tokens, result.answer = len(pieces), answer.text
    first = answer.seconds_to_first_token or 0.0
    rate = len(pieces) / max(answer.seconds - first, 1e-6)
    report(
        f"  {answer.prompt_tokens} prompt tokens; first token after {first:.2f} s; "
        f"{len(pieces)} pieces at {rate:.1f}/s; {len(answer.citations)} citations"
    )
    return result


def _timed(
    result: SelfTestReport, step: str, work: Callable[[], T], report: Callable[[str], None]
) -> T:
    started = time.monotonic()
    value = work()
    result.seconds[step] = time.monotonic() - started
    report(f"{step}: {result.seconds[step]:.2f} s")
    return value
