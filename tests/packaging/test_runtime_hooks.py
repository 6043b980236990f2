"""The frozen app's runtime hooks, run as PyInstaller runs them: as a script, before the app."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[2] / "packaging"
MODELS_DIR_ENV = "EMBEDDINGGEMMA_RAG_MODELS_DIR"


@pytest.fixture
def frozen_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the app's _internal folder, exposed as sys._MEIPASS."""
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    return tmp_path


def test_bundled_models_become_the_default_models_folder(frozen_root: Path) -> None:
    (frozen_root / "models" / "embeddinggemma-300m-q4").mkdir(parents=True)
    runpy.run_path(str(HOOKS / "rthook_models.py"))
    assert os.environ[MODELS_DIR_ENV] == str(frozen_root / "models")


def test_a_models_folder_the_user_chose_wins(
    frozen_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (frozen_root / "models" / "embeddinggemma-300m-q4").mkdir(parents=True)
    monkeypatch.setenv(MODELS_DIR_ENV, "/somewhere/else")
    runpy.run_path(str(HOOKS / "rthook_models.py"))
    assert os.environ[MODELS_DIR_ENV] == "/somewhere/else"


def test_without_bundled_models_nothing_changes(frozen_root: Path) -> None:
    (frozen_root / "models").mkdir()  # present but empty: a build without --with-models
    runpy.run_path(str(HOOKS / "rthook_models.py"))
    assert MODELS_DIR_ENV not in os.environ


def test_windowed_app_gets_null_stdio_with_a_file_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    runpy.run_path(str(HOOKS / "rthook_stdio.py"))
    replaced = [sys.stdout, sys.stderr]
    try:
        for stream in replaced:
            assert stream is not None
            assert stream.fileno() >= 0  # what llama-cpp-python asks of it
            stream.write("discarded")
    finally:
        for stream in replaced:
            if stream is not None:
                stream.close()


def test_launched_programs_get_the_users_library_path_not_the_bundles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = runpy.run_path(str(HOOKS / "entry.py"))  # not as __main__: defines, runs nothing
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/app/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/home/me/lib")
    monkeypatch.setenv("QT_PLUGIN_PATH", "/opt/app/_internal/PySide6/Qt/plugins")
    entry["restore_environment_for_launched_programs"]()
    assert os.environ["LD_LIBRARY_PATH"] == "/home/me/lib"
    assert "LD_LIBRARY_PATH_ORIG" not in os.environ
    assert "QT_PLUGIN_PATH" not in os.environ

    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/app/_internal")  # the user had none
    entry["restore_environment_for_launched_programs"]()
    assert "LD_LIBRARY_PATH" not in os.environ
