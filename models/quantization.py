"""4-bit (and mixed 4/8-bit) exports of an fp32 EmbeddingGemma graph, and how close each stays.

Each recipe names how every MatMul and the embedding Gather are stored. They are compared
with `python -m models.quantization_sweep` on the real weights (cosine to sentence-transformers
per length, size, speed); `RECOMMENDED` is the winner kept for users who build their own model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import Tokenizer

from models import int8_export, real_texts

log = logging.getLogger("quantization")

Q4_DATA_NAME = "model_q4.onnx_data"  # referenced from inside the graph: never rename the file


@dataclass(frozen=True)
class Recipe:
    """Default storage for MatMuls and the Gather, and name fragments stored at 8 bits."""

    matmul_block: int = 32
    symmetric: bool = True
    gather_block: int = 32
    eight_bit: tuple[str, ...] = field(default=())  # roles (see `matmul_roles`) kept at 8 bits
    eight_bit_block: int = 128
    algorithm: str = "DEFAULT"  # or "HQQ"


RECIPES: dict[str, Recipe] = {
    # onnx-community's published model_q4 (and this repository's generated one).
    "published": Recipe(),
    "asym32": Recipe(symmetric=False),
    "hqq32": Recipe(symmetric=False, algorithm="HQQ"),
    # Everything 8-bit but the embedding table: close to fp32, but 214.9 MB.
    "all8": Recipe(
        symmetric=False, gather_block=256, eight_bit=("attention", "mlp_in", "mlp_down", "dense")
    ),
    # 8-bit where 4-bit hurts most, 4-bit elsewhere, within 200 MB. The embedding table alone
    # is 201 M of the 308 M weights (104 MB at 4 bits in blocks of 256), which leaves room for
    # about two thirds of the MatMul weights at 8 bits.
    "mlp8": Recipe(
        symmetric=False,
        gather_block=256,
        eight_bit=("mlp_in", "mlp_down", "dense"),
        eight_bit_block=256,
    ),
    "attn-down8": Recipe(
        symmetric=False, gather_block=256, eight_bit=("attention", "mlp_down", "dense")
    ),
    "attn-down8-hqq": Recipe(
        symmetric=False,
        gather_block=256,
        eight_bit=("attention", "mlp_down", "dense"),
        algorithm="HQQ",
    ),
}
# README, Models: within the fidelity goal, under 200 MB, fastest on VNNI/AMX.
RECOMMENDED = int8_export.NAME
# Not a Recipe of 4/8-bit weights: int8 arithmetic, calibrated on text (models/int8_export.py).
RECIPE_NAMES = (*RECIPES, int8_export.NAME)


def matmul_roles(model: onnx.ModelProto) -> dict[str, str]:
    """Each weight MatMul's role, told by its weight's shape (the exporter's names say nothing):
    attention (768x768 q/o, 768x256 k/v), mlp_in (768x1152 gate/up), mlp_down (1152x768), dense
    (the 768x3072 and 3072x768 head)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    roles = {}
    for node in model.graph.node:
        shape = shapes.get(node.input[1]) if node.op_type == "MatMul" else None
        if shape is None or len(shape) != 2:
            continue
        if 3072 in shape:
            roles[node.name] = "dense"
        elif shape[1] == 1152:
            roles[node.name] = "mlp_in"
        elif shape[0] == 1152:
            roles[node.name] = "mlp_down"
        else:
            roles[node.name] = "attention"
    return roles


def quantize(fp32_path: Path, out_path: Path, recipe_name: str) -> None:
    """Write `out_path` + `model_q4.onnx_data` beside it, quantised as the recipe says."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        HQQWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    if recipe_name == int8_export.NAME:
        # The export folder's own tokenizer: <folder>/onnx/model.onnx, <folder>/tokenizer.json.
        tokenizer = Tokenizer.from_file(str(fp32_path.parent.parent / "tokenizer.json"))
        int8_export.export(fp32_path, out_path, tokenizer, real_texts.calibration_inputs(tokenizer))
        return
    recipe = RECIPES[recipe_name]
    model = onnx.load(str(fp32_path))
    if recipe.eight_bit:
        roles = matmul_roles(model)
        others = [n for n, role in roles.items() if role not in recipe.eight_bit]
        log.info("8-bit: %d MatMuls", len(roles) - len(others))
        # nodes_to_include adds to op_types_to_quantize rather than narrowing it: the MatMuls
        # that stay 4-bit are excluded instead.
        eight = MatMulNBitsQuantizer(
            model,
            bits=8,
            block_size=recipe.eight_bit_block,
            is_symmetric=False,
            nodes_to_exclude=others,
            op_types_to_quantize=("MatMul",),
        )
        eight.process()
        model = eight.model.model
    if recipe.algorithm == "HQQ":
        four = MatMulNBitsQuantizer(
            model,
            algo_config=HQQWeightOnlyQuantConfig(
                block_size=recipe.matmul_block, bits=4, op_types_to_quantize=("MatMul",)
            ),
        )
    else:
        four = MatMulNBitsQuantizer(
            model,
            bits=4,
            block_size=recipe.matmul_block,
            is_symmetric=recipe.symmetric,
            op_types_to_quantize=("MatMul",),
        )
    four.process()
    model = four.model.model
    gather = MatMulNBitsQuantizer(
        model,
        bits=4,
        block_size=recipe.gather_block,
        is_symmetric=True,
        op_types_to_quantize=("Gather",),
    )
    gather.process()
    data_path = out_path.parent / Q4_DATA_NAME
    data_path.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save_model(
        gather.model.model,
        str(out_path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=Q4_DATA_NAME,
    )


def model_mb(graph_path: Path) -> float:
    """Graph plus its external data file(s), in MB (10^6 bytes)."""
    model = onnx.load(str(graph_path), load_external_data=False)
    locations = {
        entry.value
        for tensor in model.graph.initializer
        for entry in tensor.external_data
        if entry.key == "location"
    }
    total = graph_path.stat().st_size + sum(
        (graph_path.parent / loc).stat().st_size for loc in locations
    )
    return round(total / 1e6, 1)


def embed(session: ort.InferenceSession, tokenizer: Tokenizer, text: str) -> np.ndarray:
    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    vector: np.ndarray = session.run(["sentence_embedding"], feeds)[0][0]
    return vector.astype(np.float64)


def fidelity(
    graph_path: Path,
    tokenizer: Tokenizer,
    inputs: list[dict[str, object]],
    expected: np.ndarray,
) -> dict[str, object]:
    """Cosine to the reference vectors, one input at a time: min and median per token length."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
    cosines = np.array(
        [
            float(embed(session, tokenizer, str(i["input"])) @ e)
            for i, e in zip(inputs, expected, strict=True)
        ]
    )
    by_length: dict[str, dict[str, float]] = {}
    for length in sorted({int(str(i["id"]).split("-")[1]) for i in inputs}):
        picked = [
            c
            for c, i in zip(cosines, inputs, strict=True)
            if str(i["id"]).split("-")[1] == str(length)
        ]
        by_length[str(length)] = {
            "min": round(float(np.min(picked)), 4),
            "median": round(float(np.median(picked)), 4),
        }
    return {
        "min": round(float(cosines.min()), 4),
        "median": round(float(np.median(cosines)), 4),
        "by_length": by_length,
    }
