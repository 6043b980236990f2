"""What the engine offers that needs no engine: recovering a damaged library, and the
bench. Each imports the heavy modules it needs when called, so importing this stays light."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from embeddinggemma_rag.core.errors import RagError

if TYPE_CHECKING:
    from embeddinggemma_rag.core.bench import BenchReport
    from embeddinggemma_rag.core.settings import Settings


def recover_library(data_dir: Path) -> Path:
    """Move a damaged library database aside (kept, never deleted) and start an empty library
    with the folders it had; returns where the damaged file went."""
    from embeddinggemma_rag.core.library.library import DB_NAME, Library

    if not (data_dir / DB_NAME).exists():
        raise RagError(f"{data_dir}: there is no library database to recover")
    return Library.recover(data_dir)


def run_bench(settings: Settings, report: Callable[[str], None]) -> BenchReport:
    """`bench`: how fast this machine embeds and answers with the configured models."""
    from embeddinggemma_rag.core import bench

    return bench.run_bench(settings, report)


def format_bench_report(result: BenchReport) -> str:
    from embeddinggemma_rag.core import bench

    return bench.format_report(result)
