"""The real tier (`pytest -m real`): the real EmbeddingGemma and real chat GGUFs.

The files are never committed. `../shared/real-models/fetch.sh` brings the checkpoint and the
GGUFs to `~/.cache/embeddinggemma-rag/real-models/`; `python -m models.export_real_embedding
--out models/generated/embeddinggemma-real` turns the checkpoint into the app's layout with
sentence-transformers' reference vectors (README, Models). Missing files skip, saying which.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
REAL_MODELS = Path(
    os.environ.get(
        "EMBEDDINGGEMMA_RAG_REAL_MODELS", Path.home() / ".cache/embeddinggemma-rag/real-models"
    )
)
REAL_EMBEDDING = Path(
    os.environ.get(
        "EMBEDDINGGEMMA_RAG_REAL_EMBEDDING", REPO / "models/generated/embeddinggemma-real"
    )
)
SMOLLM2 = REAL_MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_BASE = REAL_MODELS / "gemma-3-270m-q4_k_m.gguf"
EVAL = REPO.parent / "shared" / "eval"


def require(path: Path, how: str) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing: {how}")
    return path


@pytest.fixture(scope="session")
def real_embedding() -> Path:
    how = "run python -m models.export_real_embedding --out models/generated/embeddinggemma-real"
    require(REAL_EMBEDDING / "onnx/model_q4.onnx", how)
    return require(REAL_EMBEDDING / "reference_vectors.json", how).parent


@pytest.fixture(scope="session")
def reference(real_embedding: Path) -> tuple[list[dict[str, object]], np.ndarray]:
    data = json.loads((real_embedding / "reference_vectors.json").read_text(encoding="utf-8"))
    items = data["items"]
    return items, np.array([i["vector"] for i in items], dtype=np.float32)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return require(SMOLLM2, "run ../shared/real-models/fetch.sh")


@pytest.fixture(scope="session")
def gemma3_base() -> Path:
    return require(GEMMA3_BASE, "run ../shared/real-models/fetch.sh")
