"""Start-up: the window comes up before the heavy model libraries are even imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.fakes import tiny_settings

pytestmark = pytest.mark.gui

_CHILD = """
import sys, time
started = time.perf_counter()
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from embeddinggemma_rag.core.settings import load_settings
from embeddinggemma_rag.gui.main_window import MainWindow

def main():
    app = QApplication([])
    window = MainWindow(load_settings())
    window.show()
    def shown():
        names = ("onnxruntime", "faiss", "llama_cpp", "numpy")
        heavy = sorted(m for m in names if m in sys.modules)
        print(f"{time.perf_counter() - started:.3f} {','.join(heavy) or '-'}", flush=True)
        window.close()
        app.quit()
    QTimer.singleShot(0, shown)
    app.exec()

if __name__ == "__main__":
    main()
"""


def test_the_window_shows_without_loading_model_libraries(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    settings = tiny_settings(tmp_path)
    env = dict(os.environ, EMBEDDINGGEMMA_RAG_DATA_DIR=str(settings.data_dir))
    env["EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL"] = str(settings.embedding_model)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    seconds, heavy = result.stdout.split()
    assert heavy == "-"  # onnxruntime, FAISS, llama.cpp and numpy load later, off the GUI thread
    assert float(seconds) < 2.0
