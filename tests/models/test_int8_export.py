"""models/int8_export.py on the tiny model: the exact rewrites stay exact, the quantised graph
is what the app can load and stays close to fp32, and GPTQ beats rounding."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from embeddinggemma_rag.core.models import onnx_graph
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder, create_session
from models import int8_export, real_texts
from tests.conftest import TINY_EMBEDDING_MODEL

FP32 = TINY_EMBEDDING_MODEL / "onnx" / "model.onnx"
TEXTS = [
    "title: none | text: The boiler restarts on its own after a short power cut.",
    "task: search result | query: how do I reset the boiler",
    "title: Manual | text: " + "Open the front panel and hold the reset button. " * 30,
]


def _vectors(graph: Path, tokenizer: Tokenizer) -> np.ndarray:
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    out = []
    for text in TEXTS:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        out.append(session.run(["sentence_embedding"], feeds)[0][0])
    vectors = np.array(out)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(TINY_EMBEDDING_MODEL / "tokenizer.json"))


def test_the_exact_rewrites_leave_the_vectors_unchanged(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    """Fusion, the merged head and every scale moved between layers are exact in fp32."""
    fused = tmp_path / "fused.onnx"
    int8_export._fuse(FP32, fused)
    model = onnx.load(str(fused))
    copies = [n.op_type for n in model.graph.node].count("Expand")
    int8_export._rewrite_attention(model, FP32)
    ops = [n.op_type for n in model.graph.node]
    assert {"SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization"} <= set(ops)
    assert "FastGelu" in ops
    layers = ops.count("FastGelu")  # one per MLP
    assert ops.count("RotaryEmbedding") == 2 * layers  # queries and keys
    # the key/value head is no longer copied for each query head
    assert ops.count("Expand") == copies - 2 * layers
    before = len(int8_export._weight_matmuls(model))
    int8_export._merge_head(model)
    assert len(int8_export._weight_matmuls(model)) == before - 1
    roles = int8_export._roles(model)
    assert len(roles.down) == layers and len(roles.norm_groups) == 2 * layers
    stats = int8_export._calibrate(model, roles, tokenizer, TEXTS, tmp_path)
    int8_export._awq_down(model, roles, stats)
    int8_export._smooth_norm_groups(model, roles, stats)
    int8_export._equalise_table(model)
    rewritten = tmp_path / "rewritten.onnx"
    int8_export._save(model, rewritten, "rewritten.onnx_data")
    cosines = np.sum(_vectors(FP32, tokenizer) * _vectors(rewritten, tokenizer), axis=1)
    assert cosines.min() > 0.99999


def test_the_export_loads_in_the_app_and_stays_close_to_fp32(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(TINY_EMBEDDING_MODEL, folder)
    for old in (folder / "onnx").glob("model_q4*"):
        old.unlink()
    graph = folder / "onnx" / "model_q4.onnx"
    int8_export.export(folder / "onnx" / "model.onnx", graph, tokenizer, TEXTS * 2)
    model = onnx.load(str(graph), load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    layers = ops.count("FastGelu")
    assert "MatMulNBits" not in ops  # the down projections: 4-bit on disk, int8 at run time
    assert ops.count("DynamicQuantizeMatMul") == layers
    assert ops.count("MatMulInteger") == 6 * layers + 1  # q, k, v, o, gate, up; the head
    assert "GatherBlockQuantized" in ops
    assert not int8_export._weight_matmuls(model)  # no fp32 weight left
    assert not list(tmp_path.glob("model/onnx/.int8-*"))  # the scratch folder is gone
    quantized = _vectors(graph, tokenizer)
    assert np.sum(quantized * _vectors(FP32, tokenizer), axis=1).min() > 0.98
    app = OnnxEmbedder(folder, threads=1).embed(TEXTS)
    assert np.sum(app * quantized, axis=1).min() > 0.999
    # The app lets onnxruntime fold the 4-bit down weights into int8 when it loads the graph,
    # and leaves the published graph's settings alone.
    assert "DequantizeLinear" in onnx_graph.op_types(graph)
    folded = create_session(graph, 1).get_session_options()
    assert folded.get_session_config_entry("session.disable_quant_qdq") == "1"
    published = TINY_EMBEDDING_MODEL / "onnx" / "model_q4.onnx"
    assert "MatMulNBits" in onnx_graph.op_types(published)
    options = create_session(published, 1).get_session_options()
    with pytest.raises(Exception, match="disable_quant_qdq"):
        options.get_session_config_entry("session.disable_quant_qdq")


def test_gptq_beats_rounding_on_correlated_inputs() -> None:
    rng = np.random.default_rng(7)
    mixing = rng.normal(size=(64, 64))
    inputs = rng.normal(size=(2000, 64)) @ mixing  # correlated channels, as activations are
    weight = rng.normal(size=(64, 48))
    hessian = inputs.T @ inputs / len(inputs)

    def output_error(codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray) -> float:
        approx = int8_export._dequantize(codes, scales, zeros)
        return float(np.mean((inputs @ approx - inputs @ weight) ** 2))

    rounded = int8_export._round_blocks(weight, 32)
    gptq = int8_export._gptq(weight, hessian, 32)
    assert output_error(*gptq) < 0.8 * output_error(*rounded)
    assert gptq[0].min() >= 0 and gptq[0].max() <= 15


def test_nbits_layout_matches_onnxruntimes_own_rounding(tmp_path: Path) -> None:
    """Codes written by the export are laid out exactly as onnxruntime's quantiser lays out
    the same rounding, so its kernels read what GPTQ chose."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    weight = np.random.default_rng(3).normal(size=(96, 40)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 40])],
        [numpy_helper.from_array(weight, "w")],
    )
    quantizer = MatMulNBitsQuantizer(
        helper.make_model(graph), bits=4, block_size=32, is_symmetric=False
    )
    quantizer.process()
    theirs = quantizer.model.model
    ours = onnx.ModelProto()
    ours.CopyFrom(theirs)
    int8_export._write_nbits(ours, "w", *int8_export._round_blocks(weight.astype(np.float64), 32))
    for suffix in ("_Q4", "_zero_points"):
        expected = numpy_helper.to_array(int8_export._initializer(theirs, "w" + suffix))
        actual = numpy_helper.to_array(int8_export._initializer(ours, "w" + suffix))
        np.testing.assert_array_equal(actual, expected)
    np.testing.assert_allclose(
        numpy_helper.to_array(int8_export._initializer(ours, "w_scales")),
        numpy_helper.to_array(int8_export._initializer(theirs, "w_scales")).reshape(40, -1),
        rtol=1e-6,
    )


def test_calibration_texts_are_not_the_reference_texts(tokenizer: Tokenizer) -> None:
    """Fidelity is measured on texts the export was not calibrated on."""
    if not real_texts.available():
        pytest.skip("../shared/eval is not beside this clone")
    calibration = real_texts.calibration_inputs(tokenizer)
    assert 2 * len(real_texts.SETS) <= len(calibration) <= 3 * len(real_texts.SETS)
    # The reference texts are cut from the start of each set (corpus_text).
    early = "\n".join(real_texts.corpus_text(language) for language in real_texts.SETS)
    for text in calibration:
        body = text.split(" | text: ", 1)[-1].split(" | query: ", 1)[-1]
        assert body and body[:200] not in early


def test_int8_down_keeps_4_bit_weights_on_disk_and_scales_each_token(tmp_path: Path) -> None:
    """`int8_down`: the rewritten graph stores the same 4-bit codes, folds them into int8 when
    the session loads, and one token 30 times larger than the rest (as the end-of-text token
    is) no longer costs the other tokens their precision, as one scale per batch would."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from models import int8_down

    rng = np.random.default_rng(5)
    weight = rng.normal(size=(96, 40)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, 40])],
        [numpy_helper.from_array(weight, "w")],
    )
    exported = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])  # as ours
    quantizer = MatMulNBitsQuantizer(exported, bits=4, block_size=32, is_symmetric=False)
    quantizer.process()
    four_bit = quantizer.model.model
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(four_bit)
    assert int8_down.rewrite(rewritten) == 1
    before = {t.name: t for t in four_bit.graph.initializer}
    after = {t.name: t for t in rewritten.graph.initializer}
    assert after["mm_Q4.int8.codes"].raw_data == before["w_Q4"].raw_data  # the same 4-bit codes
    assert sum(len(t.raw_data) for t in after.values()) <= sum(
        len(t.raw_data) for t in before.values()
    )  # no larger file: the int8 weights exist only in memory

    codes, scales, zeros = (
        numpy_helper.to_array(int8_export._initializer(four_bit, "w" + suffix))
        for suffix in ("_Q4", "_scales", "_zero_points")
    )
    dequantized = int8_down.dequantize(codes, scales, zeros, 96, 40, 32)
    x = rng.normal(size=(1, 12, 96)).astype(np.float32)
    x[0, 11] *= 30  # the outlier token
    exact = x @ dequantized

    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")  # as create_session
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(
        rewritten.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    ours = session.run(["y"], {"x": x})[0]
    ops = {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}
    assert ops <= {"Abs", "ReduceMax", "Max", "Div", "DynamicQuantizeMatMul", "Mul"}  # folded

    def error(y: np.ndarray) -> np.ndarray:
        return np.linalg.norm(y - exact, axis=-1) / np.linalg.norm(exact, axis=-1)

    # One uint8 scale for the whole batch, as DynamicQuantizeLinear would choose it
    low, high = min(x.min(), 0), max(x.max(), 0)
    step = (high - low) / 255
    per_batch = (np.round((x - low) / step) * step + low) @ dequantized
    assert error(per_batch)[0, :11].max() > 0.05  # the case is a real one
    assert error(ours).max() < 0.02  # every token, the outlier's neighbours included
