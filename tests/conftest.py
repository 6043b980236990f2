"""Test-wide set-up: no test touches the user's real folders, Qt runs offscreen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEST_MODELS = Path(__file__).parent / "data" / "models"
TINY_EMBEDDING_MODEL = TEST_MODELS / "tiny-embeddinggemma"
TINY_CHAT_MODEL = TEST_MODELS / "tiny-chat.gguf"


def _point_user_dirs_at(root: Path, cache: bool = True) -> None:
    os.environ["EMBEDDINGGEMMA_RAG_CONFIG_DIR"] = str(root / "config")
    os.environ["EMBEDDINGGEMMA_RAG_MODELS_DIR"] = str(root / "models")
    os.environ["EMBEDDINGGEMMA_RAG_DATA_DIR"] = str(root / "library")
    if cache:
        os.environ["EMBEDDINGGEMMA_RAG_CACHE_DIR"] = str(root / "cache")
    for name in ("EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL", "EMBEDDINGGEMMA_RAG_GENERATOR_MODEL"):
        os.environ.pop(name, None)
    os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs_for_shared_fixtures(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Module- and session-scoped fixtures are set up before any test's own folders exist:
    they get throw-away folders too (they once wrote the tiny model's compute choice into
    the real user cache)."""
    saved = dict(os.environ)
    _point_user_dirs_at(tmp_path_factory.mktemp("shared-user"))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Settings, models and library default to throw-away folders for every test.

    The cache stays the session's, as one machine's: it remembers which way of computing
    embeddings is fastest here (core/models/compute_choice.py), and libraries built by different
    tests are compared vector for vector, so they must all be embedded the same way. A
    test about the cache itself removes and restores what it needs."""
    saved = dict(os.environ)
    _point_user_dirs_at(tmp_path_factory.mktemp("user"), cache=False)
    yield
    os.environ.clear()
    os.environ.update(saved)
