"""models/onnx_tools.py: the accuracy_level rewrite must leave the weights file untouched."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

# `onnx` belongs to the model tooling, not to the app's test extra: skip where it is absent.
onnx = pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[2]
Q4_DIR = ROOT / "tests" / "data" / "models" / "tiny-embeddinggemma" / "onnx"


def _onnx_tools() -> ModuleType:
    # Loaded by path: `models` is a tooling folder, not part of the installed app package.
    spec = importlib.util.spec_from_file_location("onnx_tools", ROOT / "models" / "onnx_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _embed(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = np.array([[2, 300, 301, 302, 303, 304, 305, 306, 307, 308, 1]], dtype=np.int64)
    return session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": ids * 0 + 1})[0]


def test_set_accuracy_level_rewrites_graph_only(tmp_path: Path) -> None:
    for name in ("model_q4.onnx", "model_q4.onnx_data"):
        shutil.copy(Q4_DIR / name, tmp_path / name)
    data = tmp_path / "model_q4.onnx_data"
    before = hashlib.sha256(data.read_bytes()).hexdigest()

    changed = _onnx_tools().set_matmulnbits_accuracy_level(tmp_path / "model_q4.onnx", 4)

    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_q4.onnx", "model_q4.onnx_data"]
    graph = onnx.load(str(tmp_path / "model_q4.onnx"), load_external_data=False).graph
    levels = [
        a.i
        for n in graph.node
        if n.op_type == "MatMulNBits"
        for a in n.attribute
        if a.name == "accuracy_level"
    ]
    assert changed == len(levels) > 0 and set(levels) == {4}
    # Measured on this model: cosine 0.99983 minimum to the default path over the references.
    a, b = _embed(Q4_DIR / "model_q4.onnx"), _embed(tmp_path / "model_q4.onnx")
    assert float((a * b).sum()) >= 0.999


def test_op_counts_and_external_files() -> None:
    tools = _onnx_tools()
    assert tools.op_counts(Q4_DIR / "model_q4.onnx")["GatherBlockQuantized"] == 1
    assert tools.external_data_files(Q4_DIR / "model_q4.onnx") == {"model_q4.onnx_data"}
    assert tools.external_data_files(Q4_DIR / "model.onnx") == set()
