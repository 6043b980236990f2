"""Model jobs for the setup screen: check what is there, import files, download (the only
network access of the app, and only when the user starts it)."""

from __future__ import annotations

from pathlib import Path

from embeddinggemma_rag.core import engine
from embeddinggemma_rag.core.records import Manifest, ModelStatus, Progress
from embeddinggemma_rag.gui.engine_host import EngineHost
from embeddinggemma_rag.gui.jobs import Job, JobContext


def check_models(host: EngineHost) -> Job:
    """The manifest and each model's state (present, sizes, problem) for the setup screen."""

    def work(ctx: JobContext) -> tuple[Manifest, list[ModelStatus]]:
        return engine.load_manifest(), engine.list_models(host.settings)

    return host.runner.start("check models", work)


def import_model(host: EngineHost, path: Path) -> Job:
    """Check that the files load and record them in the settings file."""

    def work(ctx: JobContext) -> ModelStatus:
        return engine.import_model(host.settings, path)

    return host.runner.start("import model", work)


def download_models(host: EngineHost, which: str, token: str | None) -> Job:
    """The only network access of the app, and only when the user starts it."""

    def work(ctx: JobContext) -> list[ModelStatus]:
        def on_progress(progress: Progress) -> None:
            ctx.progress(progress, progress.done / progress.total if progress.total else None)

        return engine.download_models(
            host.settings, which, token, on_progress, ctx.cancel, host.download_endpoint
        )

    return host.runner.start("download models", work)
