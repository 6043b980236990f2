"""The committed tiny EmbeddingGemma stand-in: ONNX interface, tokenizer and reference vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "tiny-embeddinggemma"
FP32_MIN_COSINE = 0.9999
# q4 of a random-weight 96-wide model loses more than the real model does. Measured at
# generation (seed 0): min 0.8958, mean 0.9414 over the 24 reference inputs, alone and batched.
Q4_MIN_COSINE = 0.85
Q4_MEAN_COSINE = 0.92


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads((MODEL_DIR / "reference_vectors.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fp32() -> ort.InferenceSession:
    return _session("model.onnx")


@pytest.fixture(scope="module")
def q4() -> ort.InferenceSession:
    return _session("model_q4.onnx")


def _session(name: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        str(MODEL_DIR / "onnx" / name), options, providers=["CPUExecutionProvider"]
    )


def _right_padded(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def _embed(session: ort.InferenceSession, rows: list[list[int]]) -> np.ndarray:
    ids, mask = _right_padded(rows)
    (out,) = session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
    return np.asarray(out, dtype=np.float64)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _ref_ids_and_vectors(reference: dict[str, Any]) -> tuple[list[list[int]], np.ndarray]:
    items = reference["items"]
    return [i["input_ids"] for i in items], np.array([i["vector"] for i in items])


def test_published_file_layout() -> None:
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "config_sentence_transformers.json",
        "reference_vectors.json",
        "onnx/model.onnx",
        "onnx/model_q4.onnx",
        "onnx/model_q4.onnx_data",
    ):
        assert (MODEL_DIR / name).is_file(), name


@pytest.mark.parametrize("name", ["model.onnx", "model_q4.onnx"])
def test_graph_interface(name: str) -> None:
    session = _session(name)
    inputs = {i.name: i for i in session.get_inputs()}
    assert list(inputs) == ["input_ids", "attention_mask"]
    for node in inputs.values():
        assert node.type == "tensor(int64)"
        assert len(node.shape) == 2 and all(isinstance(d, str) for d in node.shape)
    # One shared symbolic sequence dimension for both inputs.
    assert inputs["input_ids"].shape == inputs["attention_mask"].shape
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state", "sentence_embedding"]


def test_q4_is_four_bit() -> None:
    # `onnx` belongs to the model tooling, not to the app's test extra: skip where it is absent.
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(MODEL_DIR / "onnx" / "model_q4.onnx"), load_external_data=False).graph
    ops = {n.op_type for n in graph.node}
    assert {"MatMulNBits", "GatherBlockQuantized"} <= ops
    locations = {e.value for t in graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"model_q4.onnx_data"}


def test_sentence_embedding_is_unit_768(fp32: ort.InferenceSession, tokenizer: Tokenizer) -> None:
    rows = [tokenizer.encode(t).ids for t in ("a", "a longer text about boilers", "")]
    ids, mask = _right_padded(rows)
    hidden, emb = fp32.run(None, {"input_ids": ids, "attention_mask": mask})
    assert emb.shape == (3, 768)
    assert hidden.shape[:2] == ids.shape
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_tokenizer_special_ids(tokenizer: Tokenizer) -> None:
    expected = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    assert {t: tokenizer.token_to_id(t) for t in expected} == expected
    assert tokenizer.token_to_id("<start_of_turn>") is not None
    assert tokenizer.token_to_id("<end_of_turn>") is not None
    assert tokenizer.get_vocab_size() == 1024
    ids = tokenizer.encode("Größe café 🚀").ids
    assert ids[0] == 2 and ids[-1] == 1
    assert tokenizer.decode(ids) == "Größe café 🚀"  # byte fallback round-trips any text


def test_tokenizer_pads_right_with_zero(tokenizer: Tokenizer) -> None:
    assert tokenizer.padding is None  # nothing baked in: callers choose
    padded = Tokenizer.from_str(tokenizer.to_str())
    padded.enable_padding(pad_id=0, pad_token="<pad>")
    short, long = padded.encode_batch(["hi", "a much longer sentence than the first"])
    n = len(tokenizer.encode("hi").ids)
    assert short.ids[:n] == tokenizer.encode("hi").ids
    assert short.ids[n:] == [0] * (len(long.ids) - n)
    assert short.attention_mask == [1] * n + [0] * (len(long.ids) - n)


def test_prompts(reference: dict[str, Any]) -> None:
    config = json.loads((MODEL_DIR / "config_sentence_transformers.json").read_text())
    assert config["prompts"]["query"] == "task: search result | query: "
    assert config["prompts"]["document"] == "title: none | text: "
    titled = [i for i in reference["items"] if i["title"]]
    assert titled and all(i["input"] == f"title: {i['title']} | text: {i['text']}" for i in titled)


def test_reference_ids_match_tokenizer(reference: dict[str, Any], tokenizer: Tokenizer) -> None:
    for item in reference["items"]:
        assert tokenizer.encode(item["input"]).ids == item["input_ids"], item["id"]
    # Some inputs must be far longer than 2 x the sliding window (8) to exercise local layers.
    assert max(len(i["input_ids"]) for i in reference["items"]) > 100


def test_fp32_matches_reference_alone(
    fp32: ort.InferenceSession, reference: dict[str, Any]
) -> None:
    rows, expected = _ref_ids_and_vectors(reference)
    got = np.concatenate([_embed(fp32, [row]) for row in rows])
    assert _cosines(got, expected).min() >= FP32_MIN_COSINE


def test_fp32_matches_reference_batched(
    fp32: ort.InferenceSession, reference: dict[str, Any]
) -> None:
    rows, expected = _ref_ids_and_vectors(reference)
    assert _cosines(_embed(fp32, rows), expected).min() >= FP32_MIN_COSINE


def test_q4_close_to_reference(q4: ort.InferenceSession, reference: dict[str, Any]) -> None:
    rows, expected = _ref_ids_and_vectors(reference)
    alone = _cosines(np.concatenate([_embed(q4, [row]) for row in rows]), expected)
    batched = _cosines(_embed(q4, rows), expected)
    assert alone.min() >= Q4_MIN_COSINE and alone.mean() >= Q4_MEAN_COSINE
    np.testing.assert_allclose(batched, alone, atol=1e-4)  # padding must not change results
