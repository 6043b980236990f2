"""Two exact rewrites of EmbeddingGemma's attention, for onnxruntime's CPU kernels.

The exporter writes attention as transformers computes it: the rotary embedding as six
element-wise ops over the queries and keys (multiply by cos, slice the halves, negate,
concatenate, multiply by sin, add), and the single key/value head copied three times
(`Unsqueeze` → `Expand` → `Reshape`) so that each query head has its own. On the real weights,
2 threads, 1,024 tokens per batch (`python -m benchmarks --only embed`, README):

* the rotary embedding as onnxruntime's `RotaryEmbedding` kernel, one pass over the tensor
  with cos and sin cut from the graph's own tables: +16 % at 256 tokens, +7 % at 512;
* the three query heads stacked as rows of one matrix, multiplied by the one key head
  (`[B, 1, 3S, D] × [B, 1, S, D]ᵀ`) and by the one value head, with no copies of either:
  +5 to 10 % at 256 tokens, even at 512.

Both compute the same products in the same order per element, up to the rounding of the
rotary kernel (≤ 5e-7 on the rotated queries).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

_MS_DOMAIN = "com.microsoft"


class _Graph:
    """Producers and users of every tensor, and nodes to insert or drop."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.users: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)
        self.insert_before: dict[int, list[onnx.NodeProto]] = {}
        self.dropped: set[int] = set()

    def made_by(self, name: str, op_type: str) -> onnx.NodeProto:
        node = self.producer.get(name)
        if node is None or node.op_type != op_type:
            found = node.op_type if node is not None else "a graph input"
            raise ValueError(f"{name} comes from {found}, not {op_type}: unknown attention")
        return node

    def add(self, before: onnx.NodeProto, node: onnx.NodeProto) -> None:
        self.insert_before.setdefault(id(before), []).append(node)

    def drop_if_unused(self, node: onnx.NodeProto, *readers: onnx.NodeProto) -> None:
        """Drop `node` when nothing but `readers` (themselves rewritten or dropped) reads it."""
        if all(user in readers for user in self.users.get(node.output[0], [])):
            self.dropped.add(id(node))

    def commit(self) -> None:
        nodes = []
        for node in self.model.graph.node:
            nodes.extend(self.insert_before.get(id(node), []))
            if id(node) not in self.dropped:
                nodes.append(node)
        del self.model.graph.node[:]
        self.model.graph.node.extend(nodes)
        del self.model.graph.value_info[:]  # shapes of the old tensors


def rewrite(model: onnx.ModelProto, query_heads: int, key_value_heads: int) -> int:
    """Rewrite every attention in place (the graph as `int8_export._fuse` leaves it, where the
    scores are a `FusedMatMul`); returns how many were rewritten. The head counts come from
    the model's config: the graph's shapes are computed at run time."""
    if key_value_heads != 1:
        raise ValueError(f"{key_value_heads} key/value heads: only one is rewritten")
    graph = _Graph(model)
    constants = {
        "attention_rewrite.position_0": [0],  # positions 0..S-1, as the exporter's Range
        "attention_rewrite.axis_0": [0],
        "attention_rewrite.heads_as_rows": [0, 1, -1, 0],  # [B, H, S, X] -> [B, 1, H*S, X]
        "attention_rewrite.rows_as_heads": [0, query_heads, -1, 0],  # and back
    }
    caches: dict[tuple[str, str], str] = {}
    scores = [node for node in model.graph.node if node.op_type == "FusedMatMul"]
    for score in scores:
        key_copy = graph.made_by(score.input[1], "Reshape")
        key_expand = graph.made_by(key_copy.input[0], "Expand")
        key_unsqueeze = graph.made_by(key_expand.input[0], "Unsqueeze")
        query = _fused_rotary(graph, score.input[0], caches)
        key = _fused_rotary(graph, key_unsqueeze.input[0], caches)
        _heads_as_rows(graph, score, query, key)
        for node in (key_copy, key_expand, key_unsqueeze):
            graph.dropped.add(id(node))
    graph.commit()
    for name, value in constants.items():
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    if scores and not any(op.domain == _MS_DOMAIN for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_MS_DOMAIN, 1))
    return len(scores)


def _fused_rotary(graph: _Graph, rotated: str, caches: dict[tuple[str, str], str]) -> str:
    """`x·cos + rotate_half(x)·sin` → `RotaryEmbedding(x)`; returns the new tensor's name."""
    add = graph.made_by(rotated, "Add")
    times_cos = graph.made_by(add.input[0], "Mul")
    times_sin = graph.made_by(add.input[1], "Mul")
    halves = graph.made_by(times_sin.input[0], "Concat")
    negated = graph.made_by(halves.input[0], "Neg")
    upper = graph.made_by(negated.input[0], "Slice")
    lower = graph.made_by(halves.input[1], "Slice")
    x = times_cos.input[0]
    if upper.input[0] != x or lower.input[0] != x:
        raise ValueError(f"{rotated} is not a rotary embedding of one tensor")
    cos = _cache(graph, times_cos.input[1], "Cos", caches)
    sin = _cache(graph, times_sin.input[1], "Sin", caches)
    out = rotated + ".rotary"
    node = helper.make_node(
        "RotaryEmbedding",
        [x, "attention_rewrite.position_0", cos, sin],
        [out],
        name=out,
        domain=_MS_DOMAIN,
        interleaved=0,
    )
    graph.add(add, node)
    for user in graph.users.get(rotated, []):
        user.input[:] = [out if name == rotated else name for name in user.input]
    graph.dropped.update(id(n) for n in (add, times_cos, times_sin, halves, negated))
    graph.drop_if_unused(upper, negated)
    graph.drop_if_unused(lower, halves)
    return out


def _cache(graph: _Graph, table: str, op_type: str, caches: dict[tuple[str, str], str]) -> str:
    """The `[S, D/2]` cos or sin cache that `RotaryEmbedding` reads, from the graph's
    `Unsqueeze(op_type(Concat(angles, angles)))` table of shape `[1, 1, S, D]`."""
    unsqueezed = graph.made_by(table, "Unsqueeze")
    full = graph.made_by(unsqueezed.input[0], op_type)
    doubled = graph.made_by(full.input[0], "Concat")
    angles = doubled.input[0]
    if doubled.input[1] != angles:
        raise ValueError(f"{table} does not repeat one half of the angles")
    key = (op_type, angles)
    if key not in caches:
        name = f"attention_rewrite.{op_type.lower()}_{len(caches)}"
        graph.add(full, helper.make_node(op_type, [angles], [name + ".3d"], name=name + ".op"))
        graph.add(
            full,
            helper.make_node(
                "Squeeze", [name + ".3d", "attention_rewrite.axis_0"], [name], name=name
            ),
        )
        caches[key] = name
    return caches[key]


def _heads_as_rows(graph: _Graph, score: onnx.NodeProto, query: str, key: str) -> None:
    """Scores and weighted values against the single key/value head, query heads as rows."""
    scaled = _only_user(graph, score.output[0])
    masked = _only_user(graph, scaled.output[0])
    softmax = _only_user(graph, masked.output[0])
    weighted = _only_user(graph, softmax.output[0])
    if (scaled.op_type, masked.op_type, softmax.op_type, weighted.op_type) != (
        "Mul",
        "Add",
        "Softmax",
        "MatMul",
    ):
        raise ValueError(f"{score.name} is not followed by scale, mask, softmax and values")
    value_copy = graph.made_by(weighted.input[1], "Reshape")
    value_expand = graph.made_by(value_copy.input[0], "Expand")
    value_unsqueeze = graph.made_by(value_expand.input[0], "Unsqueeze")

    rows = score.output[0] + ".rows"
    graph.add(score, _reshape(query, "attention_rewrite.heads_as_rows", rows + ".query"))
    score.input[:] = [rows + ".query", key]
    heads = score.output[0]
    score.output[0] = rows
    graph.add(scaled, _reshape(rows, "attention_rewrite.rows_as_heads", heads))

    probabilities = softmax.output[0]
    stacked = probabilities + ".rows"
    graph.add(weighted, _reshape(probabilities, "attention_rewrite.heads_as_rows", stacked))
    values_out = weighted.output[0]
    weighted.input[:] = [stacked, value_unsqueeze.input[0]]
    weighted.output[0] = values_out + ".rows"
    after = _only_user(graph, values_out)
    graph.add(after, _reshape(values_out + ".rows", "attention_rewrite.rows_as_heads", values_out))
    for node in (value_copy, value_expand, value_unsqueeze):
        graph.drop_if_unused(node, weighted, value_copy, value_expand)


def _reshape(x: str, shape: str, out: str) -> onnx.NodeProto:
    return helper.make_node("Reshape", [x, shape], [out], name=out)


def _only_user(graph: _Graph, name: str) -> onnx.NodeProto:
    users = graph.users.get(name, [])
    if len(users) != 1:
        raise ValueError(f"{name} has {len(users)} readers, expected one")
    return users[0]
