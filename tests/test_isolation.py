"""The suite never writes into the user's real folders, from shared fixtures either."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from embeddinggemma_rag.core import paths


@pytest.fixture(scope="module")
def folders_a_shared_fixture_sees() -> list[Path]:
    return [paths.config_dir(), paths.cache_dir(), paths.models_dir()]


def test_a_module_fixture_gets_throw_away_folders(
    folders_a_shared_fixture_sees: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.getbasetemp()
    real = [
        Path(platformdirs.user_config_dir(paths.APP_DIR_NAME, appauthor=False)),
        Path(platformdirs.user_cache_dir(paths.APP_DIR_NAME, appauthor=False)),
    ]
    for folder in folders_a_shared_fixture_sees:
        assert folder.is_relative_to(base), folder
        assert folder not in real
