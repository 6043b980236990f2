"""The MLP down projections: 4 bits on disk, int8 arithmetic at run time.

The down projection is a fifth of the model's arithmetic but, as a 4-bit MatMul with fp32
activations, took a quarter of the time (the int8 units of VNNI/AMX CPUs do the rest several
times faster). At 8 bits its weights would push the model past 200 MB, and int8 activations
with one scale per batch fell to cosine 0.94 against sentence-transformers: its inputs carry a
few tokens (the end-of-text token above all) 10-30 times larger than the rest.

So the file keeps the 4-bit GPTQ codes, and the graph turns them into int8 weights (one
scale per output column) with a constant `DequantizeLinear` → `QuantizeLinear` that
onnxruntime folds once, when the session is created (with `session.disable_quant_qdq`, which
the app sets for such graphs: onnxruntime otherwise keeps every `DequantizeLinear` for its
QDQ fusions). Folding holds the fp16 weights of every layer at once, about 100 MB, for the
moment of loading. Each token's activations are divided by their own largest magnitude
before the int8 product and multiplied back after: one scale per token, which onnxruntime's
dynamic int8 MatMul does not offer, exact in real arithmetic. Measured on the real weights (README,
Models and Performance): cosine to sentence-transformers min 0.982, median 0.992, and +34 %
at 256 tokens, +19 % at 512 against the 4-bit MatMul with fp32 activations.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

_MS_DOMAIN = "com.microsoft"
_TINY = 1e-6  # a token whose activations are all zero keeps a finite scale


def rewrite(model: onnx.ModelProto) -> int:
    """Replace every `MatMulNBits` (4-bit, asymmetric) in place; returns how many."""
    initializers = {t.name: t for t in model.graph.initializer}
    constants: dict[str, np.ndarray] = {
        "int8_down.one": np.array(1, np.float16),
        "int8_down.zero": np.array(0, np.int8),
        "int8_down.last_axis": np.array([-1], np.int64),
        "int8_down.tiny": np.array(_TINY, np.float32),
    }
    stored: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("bits", 4) != 4 or len(node.input) < 4 or not node.input[3]:
            raise ValueError(f"{node.name}: only asymmetric 4-bit MatMulNBits are rewritten")
        k, n, block = attributes["K"], attributes["N"], attributes["block_size"]
        packed, scales, zeros = (numpy_helper.to_array(initializers[i]) for i in node.input[1:4])
        weight = dequantize(packed, scales, zeros, k, n, block)
        column_scale = np.abs(weight).max(axis=0) / 127
        column_scale[column_scale == 0] = 1.0
        # int8 weight = (code - zero) * scale / column scale: the block scales are stored
        # divided by the column's, in fp16 (their rounding moves an int8 value by < 0.03)
        ratio = (scales.reshape(n, k // block) / column_scale[:, None]).astype(np.float16)
        p = node.name + ".int8"
        stored += [
            _uint4(p + ".codes", _nibbles(packed).reshape(n, k)),
            _uint4(p + ".zeros", _nibbles(zeros).reshape(n, -1)[:, : k // block]),
            numpy_helper.from_array(ratio, p + ".ratio"),
            numpy_helper.from_array(column_scale.astype(np.float32), p + ".column_scale"),
        ]
        nodes += [
            helper.make_node(
                "DequantizeLinear",
                [p + ".codes", p + ".ratio", p + ".zeros"],
                [p + ".weight16"],
                name=p + ".weight16",
                axis=1,
                block_size=block,
            ),
            helper.make_node(
                "QuantizeLinear",
                [p + ".weight16", "int8_down.one", "int8_down.zero"],
                [p + ".weight8_nk"],
                name=p + ".weight8_nk",
            ),
            helper.make_node(
                "Transpose", [p + ".weight8_nk"], [p + ".weight8"], name=p + ".weight8", perm=[1, 0]
            ),
            *_per_token_product(p, node.input[0], node.output[0]),
        ]
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(stored)
    for name, value in constants.items():
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    used = {name for node in model.graph.node for name in node.input}
    for tensor in list(model.graph.initializer):
        if tensor.name not in used:
            model.graph.initializer.remove(tensor)
    if count:
        _require_opset(model, "", 21)  # blocked DequantizeLinear
        _require_opset(model, _MS_DOMAIN, 1)
    return count


def dequantize(
    packed: np.ndarray, scales: np.ndarray, zeros: np.ndarray, k: int, n: int, block: int
) -> np.ndarray:
    """A MatMulNBits weight as the [K, N] float matrix it stands for (low nibble first)."""
    blocks = k // block
    codes = _nibbles(packed).reshape(n, blocks, block)
    zero = _nibbles(zeros).reshape(n, -1)[:, :blocks]
    scale = scales.reshape(n, blocks)
    values = (codes.astype(np.float32) - zero[..., None]) * scale[..., None]
    return values.reshape(n, k).T


def _nibbles(packed: np.ndarray) -> np.ndarray:
    """Bytes holding two 4-bit numbers, low nibble first -> one number per element."""
    return np.stack([packed & 15, packed >> 4], axis=-1).reshape(*packed.shape[:-1], -1)


def _uint4(name: str, values: np.ndarray) -> onnx.TensorProto:
    """An ONNX UINT4 tensor: the flattened values two to a byte, low nibble first."""
    flat = values.astype(np.uint8).ravel()
    if flat.size % 2:
        flat = np.append(flat, 0)
    raw = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()
    return helper.make_tensor(name, onnx.TensorProto.UINT4, values.shape, raw, raw=True)


def _require_opset(model: onnx.ModelProto, domain: str, version: int) -> None:
    for opset in model.opset_import:
        if opset.domain == domain:
            opset.version = max(opset.version, version)
            return
    model.opset_import.append(helper.make_opsetid(domain, version))


def _per_token_product(prefix: str, x: str, y: str) -> list[onnx.NodeProto]:
    """y = (x / r) W8 * r, with r each token's largest magnitude: per-token int8 scales."""
    p = prefix
    return [
        helper.make_node("Abs", [x], [f"{p}.abs"], name=f"{p}.abs"),
        helper.make_node(
            "ReduceMax", [f"{p}.abs", "int8_down.last_axis"], [f"{p}.peak"], name=f"{p}.peak"
        ),
        helper.make_node("Max", [f"{p}.peak", "int8_down.tiny"], [f"{p}.r"], name=f"{p}.r"),
        helper.make_node("Div", [x, f"{p}.r"], [f"{p}.unit"], name=f"{p}.unit"),
        helper.make_node(
            "DynamicQuantizeMatMul",
            [f"{p}.unit", f"{p}.weight8", f"{p}.column_scale"],
            [f"{p}.product"],
            name=f"{p}.product",
            domain=_MS_DOMAIN,
        ),
        helper.make_node("Mul", [f"{p}.product", f"{p}.r"], [y], name=f"{p}.rescale"),
    ]
