"""The fast export: integer arithmetic where the CPU has it, within 200 MB and close to fp32.

CPUs with VNNI or AMX multiply int8 matrices several times faster than fp32, and onnxruntime
runs a MatMul with int8 weights and dynamically quantised activations (`DynamicQuantizeMatMul`)
on those units. Quantising every MatMul so, naively, drifts far from sentence-transformers
(cosine 0.94 at worst on the real weights) and weighs 211 MB. What brings it back, each step
measured on the real weights (README, Models):

1. onnxruntime's fusions (onnxscript's `ort_fusions`): RMSNorm, skip-RMSNorm and GELU as
   single kernels; the rotary embedding as onnxruntime's kernel and the query heads stacked
   against the single key/value head (`attention_rewrite`). Exact. (Attention itself stays as
   MatMuls: see `_fuse`.)
2. The two Dense layers of the head (768->3072->768, no bias or activation between) multiplied
   into one 768x768 matrix: 4 MB less, and exact up to float rounding.
3. Per-channel scales moved between layers where quantisation suffers from a few large
   channels, all exact in fp32: SmoothQuant (alpha 0.5) between each RMSNorm and the q/k/v and
   gate/up projections it feeds (into the norm's weight); AWQ's searched scales between the up
   and the down projection; the embedding table's columns equalised (into the scale applied
   after the lookup).
4. q/k/v/o, gate/up and the head: int8 weights per output channel, int8 activations.
   The down projection, whose inputs have outliers that one int8 scale per batch cannot hold
   (cosine 0.94), keeps 4-bit weights on disk (blocks of 32, asymmetric) chosen by GPTQ on
   calibration text instead of rounding, turned into int8 when the session loads and
   multiplied with one int8 scale per token (`int8_down`). The embedding table: 4 bits in
   blocks of 256 with scales that minimise each block's error instead of its largest value.

AWQ and GPTQ are the published algorithms (Lin et al. 2023; Frantar et al. 2022) in a few
lines of numpy: onnxruntime's own GPTQ and AWQ run through Intel Neural Compressor, a large
dependency for one step of a tool that never runs in the app.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from tokenizers import Tokenizer

from models import attention_rewrite, int8_down

log = logging.getLogger("int8_export")

NAME = "int8-gptq"
DATA_NAME = "model_q4.onnx_data"  # the app's layout: the graph refers to this name
DOWN_BLOCK = 32  # larger blocks for the down projection cost fidelity (0.963 at 128)
TABLE_BLOCK = 256  # the 262,144 x 768 table: scales of smaller blocks do not fit in 200 MB
SMOOTH_ALPHA = 0.5
AWQ_ALPHAS = np.linspace(0.0, 1.0, 11)
GPTQ_DAMPING = 0.01
_NORMS = ("SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization")


@dataclass
class _Roles:
    """The weight MatMuls by what they do, found from the graph's structure."""

    down: list[onnx.NodeProto]  # MLP down projections
    up: dict[str, str]  # down weight -> up weight (the MatMul whose output the product takes)
    norm_groups: dict[str, tuple[str, list[str]]]  # norm output -> (norm weight, MatMul weights)
    head: list[onnx.NodeProto]  # the Dense layers after pooling
    int8: list[str]  # node names quantised to int8 (everything but the down projections)


def export(
    fp32_path: Path, out_path: Path, tokenizer: Tokenizer, calibration: Iterable[str]
) -> None:
    """Write `out_path` + `model_q4.onnx_data` beside it from an fp32 EmbeddingGemma graph."""
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".int8-") as scratch:
        work = Path(scratch)
        fused = work / "fused.onnx"
        _fuse(fp32_path, fused)
        model = onnx.load(str(fused))
        _rewrite_attention(model, fp32_path)
        _merge_head(model)
        roles = _roles(model)
        stats = _calibrate(model, roles, tokenizer, list(calibration), work)
        hessians = _awq_down(model, roles, stats)
        _smooth_norm_groups(model, roles, stats)
        _equalise_table(model)
        staged = work / "staged.onnx"
        _save(model, staged, "staged.onnx_data")
        fp32_weights = {name: numpy_helper.to_array(_initializer(model, name)) for name in hessians}
        table = numpy_helper.to_array(_initializer(model, _table_name(model)))
        del model
        quantized = _quantize(staged, roles, work, table.shape[1])
        for name, hessian in hessians.items():
            _write_nbits(quantized, name, *_gptq(fp32_weights[name], hessian, DOWN_BLOCK))
        int8_down.rewrite(quantized)  # 4 bits on disk, int8 with per-token scales at run time
        _write_table(quantized, table)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        (out_path.parent / DATA_NAME).unlink(missing_ok=True)  # onnx appends to a data file
        _save(quantized, out_path, DATA_NAME)


# Graph steps ------------------------------------------------------------------------------


def _fuse(src: Path, dst: Path) -> None:
    """onnxscript's onnxruntime fusions (`ort_fusions.optimize_for_ort`) but attention: its
    `MultiHeadAttention` with the sliding-window bias ran slower than onnxruntime's own
    attention MatMuls on this model (at 512 tokens, fp32: 1,161 against 1,075 ms per 1,024
    tokens). The norms and GELU are fused; the rotary embedding matches but is inlined back
    (onnxruntime's op wants a cos/sin cache this export does not have)."""
    import onnx_ir as ir
    import onnx_ir.passes.common as common_passes
    from onnxscript.optimizer import optimize
    from onnxscript.rewriter import rewrite
    from onnxscript.rewriter.ort_fusions import ORT_PATTERN_REWRITE_RULES, shape_optimization
    from onnxscript.rewriter.ort_fusions.cos_sin_cache import fuse_cos_sin_cache
    from onnxscript.rewriter.ort_fusions.gelu import fuse_gelu
    from onnxscript.rewriter.ort_fusions.rms_normalization import fuse_rms_normalization
    from onnxscript.rewriter.ort_fusions.rotary_embedding import fuse_rotary_embedding
    from onnxscript.rewriter.ort_fusions.skip_normalization import fuse_skip_rms_normalization

    model = ir.load(str(src))
    common_passes.ShapeInferencePass()(model)  # as ort_fusions prepares a model
    optimize(model)
    shape_optimization.rules.apply_to_model(model)
    optimize(model)
    counts = {
        name: fusion(model)
        for name, fusion in (
            ("rms_normalization", fuse_rms_normalization),
            ("skip_rms_normalization", fuse_skip_rms_normalization),
            ("rotary_embedding", fuse_rotary_embedding),
            ("cos_sin_cache", fuse_cos_sin_cache),
            ("gelu", fuse_gelu),
        )
    }
    optimize(model)
    rewrite(model, ORT_PATTERN_REWRITE_RULES)
    common_passes.RemoveInitializersFromInputsPass()(model)
    common_passes.ShapeInferencePass()(model)
    log.info("fusions: %s", counts)
    ir.save(model, str(dst), external_data=dst.name + "_data")


def _rewrite_attention(model: onnx.ModelProto, fp32_path: Path) -> None:
    """Fused rotary embedding, query heads as rows (`attention_rewrite`); the head counts are
    in the model folder's config.json (the graph computes its shapes at run time)."""
    config = json.loads((fp32_path.parent.parent / "config.json").read_text(encoding="utf-8"))
    count = attention_rewrite.rewrite(
        model, config["num_attention_heads"], config["num_key_value_heads"]
    )
    log.info("attention rewritten in %d layers", count)


def _merge_head(model: onnx.ModelProto) -> None:
    """The last two weight MatMuls (Dense, Dense, nothing between) become one."""
    weights = _weight_matmuls(model)
    first, second = weights[-2], weights[-1]
    if second.input[0] != first.output[0]:
        raise ValueError("the graph does not end in two chained Dense layers")
    a = numpy_helper.to_array(_initializer(model, first.input[1])).astype(np.float64)
    b = numpy_helper.to_array(_initializer(model, second.input[1])).astype(np.float64)
    _set(model, second.input[1], (a @ b).astype(np.float32))
    second.input[0] = first.input[0]
    model.graph.node.remove(first)
    _drop_unused(model)
    del model.graph.value_info[:]  # shapes inferred for the removed 3,072-wide tensor


def _roles(model: onnx.ModelProto) -> _Roles:
    """The roles; a norm weight shared by several norms is copied so each can be scaled."""
    producer = {out: node for node in model.graph.node for out in node.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    weights = _weight_matmuls(model)
    head = weights[-1:]
    down, up = [], {}
    for node in weights[:-1]:
        product = producer.get(node.input[0])
        if product is None or product.op_type != "Mul":
            continue
        feeding = [producer.get(name) for name in product.input]
        ups = [n for n in feeding if n is not None and n.op_type == "MatMul" and n in weights]
        if len(ups) == 1:
            down.append(node)
            up[node.input[1]] = ups[0].input[1]
    groups: dict[str, tuple[str, list[str]]] = {}
    for node in weights[:-1]:
        norm = producer.get(node.input[0])
        if norm is None or norm.op_type not in _NORMS:
            continue
        fed = users[node.input[0]]
        if node.input[0] in groups or not all(n.op_type == "MatMul" and n in weights for n in fed):
            continue
        slot = 1 if norm.op_type == _NORMS[0] else 2
        weight = norm.input[slot]
        if len(users[weight]) > 1:  # one weight shared by several norms: give this one its own
            private = numpy_helper.from_array(
                numpy_helper.to_array(_initializer(model, weight)), f"{weight}.{norm.name}"
            )
            model.graph.initializer.append(private)
            norm.input[slot] = weight = private.name
        groups[node.input[0]] = (weight, [n.input[1] for n in fed])
    down_names = {n.name for n in down}
    int8 = [n.name for n in weights if n.name not in down_names]
    if not down or not groups:
        raise ValueError("no MLP or normalised projections found: not an EmbeddingGemma graph")
    return _Roles(down, up, groups, head, int8)


def _calibrate(
    model: onnx.ModelProto,
    roles: _Roles,
    tokenizer: Tokenizer,
    texts: list[str],
    work: Path,
) -> dict[str, np.ndarray]:
    """Run calibration texts through the fp32 graph: for each down projection its inputs'
    X^T X (GPTQ), mean |x| and a sample of rows (AWQ); for each norm group max |x|."""
    import onnxruntime as ort

    stage = work / "calibrate.onnx"
    _save(model, stage, "calibrate.onnx_data")
    probe = onnx.load(str(stage), load_external_data=False)
    wanted = [n.input[0] for n in roles.down] + list(roles.norm_groups)
    for name in wanted:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(probe, str(stage))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(stage), options, providers=["CPUExecutionProvider"])
    stats: dict[str, np.ndarray] = {}
    samples: dict[str, list[np.ndarray]] = {}
    tokens = 0
    for text in texts:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        outputs = session.run(wanted, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        tokens += ids.shape[1]
        for name, value in zip(wanted, outputs, strict=True):
            rows = value.reshape(-1, value.shape[-1]).astype(np.float64)
            if name in roles.norm_groups:
                peak = np.abs(rows).max(0)
                stats[name] = np.maximum(stats.get(name, peak), peak)
                continue
            stats[name + ":xtx"] = stats.get(name + ":xtx", 0) + rows.T @ rows
            stats[name + ":abs"] = stats.get(name + ":abs", 0) + np.abs(rows).sum(0)
            samples.setdefault(name, []).append(rows[:: max(1, len(rows) // 256)])
    if tokens == 0:
        raise ValueError("no calibration text")
    for name in [n.input[0] for n in roles.down]:
        stats[name + ":xtx"] /= tokens
        stats[name + ":abs"] /= tokens
        stats[name + ":rows"] = np.concatenate(samples[name])
    log.info("calibrated on %d texts, %d tokens", len(texts), tokens)
    return stats


def _awq_down(
    model: onnx.ModelProto, roles: _Roles, stats: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Scale each down projection's input channels by the AWQ factor that minimises its 4-bit
    output error, folded into the up projection; returns the scaled inputs' X^T X per weight."""
    hessians = {}
    for node in roles.down:
        x, name = node.input[0], node.input[1]
        weight = numpy_helper.to_array(_initializer(model, name)).astype(np.float64)
        rows = stats[x + ":rows"]
        reference = rows @ weight
        best = (np.inf, np.ones(weight.shape[0]))
        for alpha in AWQ_ALPHAS:
            scale = stats[x + ":abs"] ** alpha + 1e-12
            scale /= np.sqrt(scale.max() * scale.min())
            approx = (rows / scale) @ _dequantize(*_round_blocks(weight * scale[:, None]))
            error = float(np.mean((approx - reference) ** 2))
            if error < best[0]:
                best = (error, scale)
        scale = best[1]
        up = roles.up[name]
        _set(model, up, (numpy_helper.to_array(_initializer(model, up)) / scale).astype(np.float32))
        _set(model, name, (weight * scale[:, None]).astype(np.float32))
        hessians[name] = stats[x + ":xtx"] / np.outer(scale, scale)
    return hessians


def _smooth_norm_groups(
    model: onnx.ModelProto, roles: _Roles, stats: dict[str, np.ndarray]
) -> None:
    """SmoothQuant: divide the norm's weight per channel, multiply the rows it feeds."""
    for x, (norm_weight, weights) in roles.norm_groups.items():
        matrices = [numpy_helper.to_array(_initializer(model, w)) for w in weights]
        weight_peak = np.max([np.abs(m).max(1) for m in matrices], axis=0)
        scale = (stats[x] + 1e-6) ** SMOOTH_ALPHA / (weight_peak + 1e-6) ** (1 - SMOOTH_ALPHA)
        scale = (scale / np.sqrt(scale.max() * scale.min())).astype(np.float32)
        gamma = numpy_helper.to_array(_initializer(model, norm_weight))
        _set(model, norm_weight, (gamma / scale).astype(gamma.dtype))
        for name, matrix in zip(weights, matrices, strict=True):
            _set(model, name, (matrix * scale[:, None]).astype(np.float32))


def _equalise_table(model: onnx.ModelProto) -> None:
    """Divide each column of the embedding table by its RMS, multiply after the lookup."""
    name = _table_name(model)
    gather = next(n for n in model.graph.node if n.op_type == "Gather" and n.input[0] == name)
    after = next(n for n in model.graph.node if n.op_type == "Mul" and gather.output[0] in n.input)
    factor_name = next(i for i in after.input if i != gather.output[0])
    table = numpy_helper.to_array(_initializer(model, name))
    column = np.sqrt((table.astype(np.float64) ** 2).mean(0))
    column = (column / np.exp(np.log(column).mean())).astype(np.float32)
    factor = numpy_helper.to_array(_initializer(model, factor_name))
    _set(model, name, table / column)
    _set(model, factor_name, (factor * column).astype(np.float32))
    for info in list(model.graph.value_info):
        if info.name == factor_name:
            model.graph.value_info.remove(info)


def _quantize(staged: Path, roles: _Roles, work: Path, width: int) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    int8 = work / "int8.onnx"
    quantize_dynamic(
        staged,
        int8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=False,  # VNNI and AMX need no headroom; reduce_range is for old AVX2
        nodes_to_quantize=roles.int8,
        op_types_to_quantize=["MatMul"],
        use_external_data_format=True,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
    )
    model = onnx.load(str(int8))
    down = MatMulNBitsQuantizer(
        model,
        bits=4,
        block_size=DOWN_BLOCK,
        is_symmetric=False,
        op_types_to_quantize=("MatMul",),
    )
    down.process()
    table = MatMulNBitsQuantizer(
        down.model.model,
        bits=4,
        block_size=table_block(width),
        is_symmetric=True,
        op_types_to_quantize=("Gather",),
    )
    # Its rounding is replaced by _write_table; all-zero rows (padding) make it divide 0 by 0.
    with np.errstate(invalid="ignore", divide="ignore"):
        table.process()
    result: onnx.ModelProto = table.model.model
    return result


# Weight quantisation ----------------------------------------------------------------------


def _round_blocks(weight: np.ndarray, block: int = DOWN_BLOCK) -> tuple[np.ndarray, ...]:
    """onnxruntime's asymmetric 4-bit rounding of a [K, N] weight in blocks along K:
    codes [N, K], scales and zero points [N, K / block]."""
    k, n = weight.shape
    blocks = weight.T.reshape(n, k // block, block)
    low = np.minimum(blocks.min(2), 0)
    high = np.maximum(blocks.max(2), 0)
    scale = (high - low) / 15
    scale[scale == 0] = 1e-12
    zero = np.clip(np.round(-low / scale), 0, 15)
    codes = np.clip(np.round(blocks / scale[..., None]) + zero[..., None], 0, 15)
    return codes.reshape(n, k), scale, zero


def _dequantize(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    n, k = codes.shape
    blocks = codes.reshape(n, scale.shape[1], -1)
    return ((blocks - zero[..., None]) * scale[..., None]).reshape(n, k).T


def _gptq(
    weight: np.ndarray, hessian: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GPTQ: quantise input rows in order, spreading each row's rounding error over the rows
    not yet quantised as the calibration inputs' covariance says (Frantar et al. 2022)."""
    work = weight.astype(np.float64).T.copy()  # [N, K]: one input channel per column
    n, k = work.shape
    h = hessian.copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    h += GPTQ_DAMPING * np.mean(np.diag(h)) * np.eye(k)
    inverse = np.linalg.cholesky(np.linalg.inv(h)).T  # upper triangular
    codes = np.zeros((n, k))
    scales = np.zeros((n, k // block))
    zeros = np.zeros((n, k // block))
    for j in range(k):
        if j % block == 0:
            _, scale, zero = _round_blocks(work[:, j : j + block].T, block)
            scale, zero = scale[:, 0], zero[:, 0]
            scales[:, j // block], zeros[:, j // block] = scale, zero
        code = np.clip(np.round(work[:, j] / scale) + zero, 0, 15)
        codes[:, j] = code
        error = (work[:, j] - (code - zero) * scale) / inverse[j, j]
        work[:, j + 1 :] -= np.outer(error, inverse[j, j + 1 :])
    return codes, scales, zeros


def _write_nbits(
    model: onnx.ModelProto, name: str, codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray
) -> None:
    """Store codes in MatMulNBits' layout: [N, blocks, block / 2] bytes, low nibble first;
    zero points two to a byte."""
    n, k = codes.shape
    nibbles = codes.astype(np.uint8).reshape(n, k // DOWN_BLOCK, DOWN_BLOCK // 2, 2)
    _set(model, name + "_Q4", nibbles[..., 0] | (nibbles[..., 1] << 4))
    _set(model, name + "_scales", scales.astype(np.float32))
    if zeros.shape[1] % 2:  # two to a byte: an odd count ends in the default zero point, 8
        zeros = np.concatenate([zeros, np.full((n, 1), 8)], axis=1)
    pairs = zeros.astype(np.uint8).reshape(n, -1, 2)
    _set(model, name + "_zero_points", pairs[..., 0] | (pairs[..., 1] << 4))


def _write_table(model: onnx.ModelProto, table: np.ndarray) -> None:
    """4-bit symmetric blocks whose scale minimises the block's squared error (a search over
    clipping ratios) instead of mapping its largest value to the end of the range."""
    gather = next(n for n in model.graph.node if n.op_type == "GatherBlockQuantized")
    rows, width = table.shape
    block = table_block(width)
    codes = np.empty((rows, width), np.int8)
    scales = np.empty((rows, width // block), np.float32)
    for start in range(0, rows, 16384):
        blocks = table[start : start + 16384].reshape(-1, width // block, block)
        peak = np.maximum(np.abs(blocks).max(2, keepdims=True), 1e-12)
        best_error = best_codes = best_scale = None
        for ratio in np.linspace(0.6, 1.0, 17):
            for levels in (7.0, 8.0):
                scale = ratio * peak / levels
                code = np.clip(np.round(blocks / scale), -8, 7)
                error = ((code * scale - blocks) ** 2).sum(2, keepdims=True)
                if best_error is None:
                    best_error, best_codes, best_scale = error, code, scale
                    continue
                better = error < best_error
                best_error = np.where(better, error, best_error)
                best_codes = np.where(better, code, best_codes)
                best_scale = np.where(better, scale, best_scale)
        assert best_codes is not None and best_scale is not None
        codes[start : start + 16384] = best_codes.reshape(-1, width)
        scales[start : start + 16384] = best_scale.reshape(-1, width // block)
    nibbles = (codes.reshape(-1).astype(np.int16) & 0xF).astype(np.uint8)
    packed = TensorProto()
    packed.name = gather.input[0]
    packed.data_type = TensorProto.INT4
    packed.dims.extend([rows, width])
    packed.raw_data = (nibbles[0::2] | (nibbles[1::2] << 4)).tobytes()
    _initializer(model, gather.input[0]).CopyFrom(packed)
    _set(model, gather.input[2], scales)


def table_block(width: int) -> int:
    """TABLE_BLOCK, or the largest power of two that divides a narrower table's rows."""
    block = TABLE_BLOCK
    while block > 16 and width % block:
        block //= 2
    return block


# Helpers ----------------------------------------------------------------------------------


def _weight_matmuls(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    names = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in names]


def _table_name(model: onnx.ModelProto) -> str:
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    gathers = [n.input[0] for n in model.graph.node if n.op_type == "Gather"]
    return max((g for g in gathers if len(shapes.get(g, ())) == 2), key=lambda g: shapes[g][0])


def _initializer(model: onnx.ModelProto, name: str) -> TensorProto:
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return tensor
    raise KeyError(name)


def _set(model: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    _initializer(model, name).CopyFrom(numpy_helper.from_array(value, name))


def _drop_unused(model: onnx.ModelProto) -> None:
    used = {name for node in model.graph.node for name in node.input}
    for tensor in list(model.graph.initializer):
        if tensor.name not in used:
            model.graph.initializer.remove(tensor)


def _save(model: onnx.ModelProto, path: Path, data_name: str) -> None:
    """Save with external data. onnx moves the tensors of the model it saves out to the file
    (and empties them in memory), so a copy is saved and the caller's model stays whole."""
    (path.parent / data_name).unlink(missing_ok=True)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    onnx.save_model(
        copy,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
    )
