"""6. Start-up: process start to a usable main window (offscreen Qt), from source and frozen,
and the app's memory idle and with a 10k-chunk library open. 7. Sizes on disk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    FULL_CHAT,
    REPO,
    Context,
    Section,
    ensure_embedding_model,
    log,
    median,
)

GOAL_WINDOW_S = 2.0
GOAL_MODEL_MB = 200
GOAL_BUNDLE_MB = 300
SETTLE_S = 6.0  # after the window: the model check and library load run on worker threads
FROZEN = REPO / "dist" / "embeddinggemma-rag" / "embeddinggemma-rag"


def run(ctx: Context) -> Section:
    from benchmarks import library_builder
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    section = Section("startup", "Start-up, memory and sizes")
    model = ensure_embedding_model()
    runs = [_child(None) for _ in range(ctx.repeats(3, 2))]
    first = median([r["window_s"] for r in runs])
    section.details["from_source"] = runs
    section.add(
        "start to usable window, from source (offscreen Qt)",
        f"{first:.2f} s",
        goal=f"< {GOAL_WINDOW_S:.0f} s",
        met=first < GOAL_WINDOW_S,
    )
    idle = median([r["settled_rss_mb"] for r in runs])
    section.add("app memory idle (models found, empty library)", f"{idle:.0f} MB")
    model_id = OnnxEmbedder(model, threads=1).model_id
    library = library_builder.build(10_000, model_id)
    loaded = _child(library)
    section.details["with_10k_library"] = loaded
    section.add("app memory with a 10k-chunk library open", f"{loaded['settled_rss_mb']:.0f} MB")
    frozen = _frozen()
    if frozen is not None:
        section.details["frozen"] = frozen
        section.add(
            "start to window, frozen build (Xvfb, warm)",
            f"{frozen['warm_s']:.2f} s",
            goal=f"< {GOAL_WINDOW_S:.0f} s",
            met=frozen["warm_s"] < GOAL_WINDOW_S,
        )
    _sizes(section, model)
    return section


def _child(library: Path | None) -> dict[str, Any]:
    """Start the GUI in a fresh interpreter; the child reports when its event loop runs."""
    log(f"startup: GUI from source{' with the 10k library' if library else ''}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        data = str(library) if library else str(Path(tmp) / "library")
        command = [sys.executable, "-m", "benchmarks.startup", data, str(time.time())]
        result = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
    if result.returncode:
        raise RuntimeError(f"GUI start-up failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _gui(data_dir: str, started: float) -> None:
    """In the child: run the real `run_app`, noting when `MainWindow.start` runs (the first
    turn of the event loop after `show`), then the memory once the background work settles."""
    from PySide6.QtCore import QTimer

    from benchmarks.common import proc_status_mb
    from embeddinggemma_rag.core.settings import Settings
    from embeddinggemma_rag.gui import app, main_window

    report: dict[str, Any] = {}
    original = main_window.MainWindow.start

    def start(window: Any) -> None:
        report["window_s"] = time.time() - started
        report["window_rss_mb"] = round(proc_status_mb()["VmRSS"])
        original(window)

        def settle() -> None:
            report["settled_rss_mb"] = round(proc_status_mb()["VmRSS"])
            window.close()

        QTimer.singleShot(int(SETTLE_S * 1000), settle)

    main_window.MainWindow.start = start  # type: ignore[method-assign]
    settings = Settings(
        data_dir=Path(data_dir),
        embedding_model=ensure_embedding_model(),
        generator_model=FULL_CHAT,
    )
    app.run_app(settings)
    report["peak_rss_mb"] = round(proc_status_mb()["VmHWM"])
    print(json.dumps(report))


def _frozen() -> dict[str, float] | None:
    """The packaging engineer's measure (Xvfb + xdotool), when a frozen build exists."""
    if not FROZEN.exists():
        return None
    log("startup: frozen build")
    script = REPO / "packaging" / "measure_startup.py"
    result = subprocess.run(
        [sys.executable, str(script), str(FROZEN), "--runs", "4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    cold = re.search(r"cold start to first window: ([\d.]+)", result.stdout)
    warm = re.search(r"warm start to first window: median ([\d.]+)", result.stdout)
    if not (cold and warm):
        return None
    return {"cold_s": float(cold.group(1)), "warm_s": float(warm.group(1))}


def _sizes(section: Section, model: Path) -> None:
    onnx = model / "onnx"
    q4 = sum((onnx / name).stat().st_size for name in ("model_q4.onnx", "model_q4.onnx_data"))
    tokenizer = (model / "tokenizer.json").stat().st_size
    section.details["q4_model_bytes"] = q4
    section.add(
        "q4 embedding model on disk (graph + weights; + tokenizer)",
        f"{q4 / 1e6:.1f} MB (+ {tokenizer / 1e6:.1f} MB)",
        goal=f"< {GOAL_MODEL_MB} MB",
        met=q4 / 1e6 < GOAL_MODEL_MB,
    )
    bundle = FROZEN.parent
    if bundle.is_dir():
        # Symbolic links (PyInstaller links some libraries under two names) count once.
        files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
        size = sum(p.stat().st_size for p in files)
        section.details["bundle_bytes"] = size
        section.add(
            "installer bundle without models (onedir)",
            f"{size / 1e6:.0f} MB",
            goal=f"< {GOAL_BUNDLE_MB} MB",
            met=size / 1e6 < GOAL_BUNDLE_MB,
        )


if __name__ == "__main__":
    _gui(sys.argv[1], float(sys.argv[2]))
