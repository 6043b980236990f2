"""Compare quantisation recipes on the real weights: cosine to sentence-transformers, size, speed.

    .venv/bin/python -m models.quantization_sweep models/generated/embeddinggemma-real \\
        [--recipes published,asym32,...] [--json results.json]

The folder is what `models.export_real_embedding` wrote (fp32 graph and reference vectors).
Each recipe is quantised into a scratch folder beside it, then run the way the app runs it
(onnxruntime, the app's session settings) with 4-bit MatMuls at fp32 compute and at the app's
int8 compute (accuracy level 4). Speed is tokens/s on 256-token inputs, 2 threads, relative to
the published recipe measured in the same run, with the machine's load beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from embeddinggemma_rag.core.models.embedding import create_session
from models import quantization
from models.real_texts import corpus_text, cut_to_tokens

SPEED_TOKENS = 256
SPEED_ROWS = 4  # the app's batch: 1,024 tokens


def load_reference(folder: Path) -> tuple[list[dict[str, object]], np.ndarray]:
    data = json.loads((folder / "reference_vectors.json").read_text(encoding="utf-8"))
    items = data["items"]
    return items, np.array([i["vector"] for i in items], dtype=np.float64)


def cosines(
    session: object, tokenizer: Tokenizer, items: list[dict[str, object]], expected: np.ndarray
) -> dict[str, object]:
    vectors = np.array([quantization.embed(session, tokenizer, str(i["input"])) for i in items])  # type: ignore[arg-type]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    values = np.sum(vectors * expected, axis=1)
    lengths = [str(i["id"]).split("-")[1] for i in items]
    by_length = {
        length: {
            "min": round(
                float(min(v for v, n in zip(values, lengths, strict=True) if n == length)), 4
            ),
            "median": round(
                float(np.median([v for v, n in zip(values, lengths, strict=True) if n == length])),
                4,
            ),
        }
        for length in dict.fromkeys(lengths)
    }
    return {
        "min": round(float(values.min()), 4),
        "median": round(float(np.median(values)), 4),
        "by_length": by_length,
    }


def speed(session: object, tokenizer: Tokenizer, rounds: int = 3) -> float:
    text = corpus_text("en")
    body = cut_to_tokens(tokenizer, "title: none | text: ", text, SPEED_TOKENS)
    ids = tokenizer.encode("title: none | text: " + body).ids
    batch = np.array([ids] * SPEED_ROWS, dtype=np.int64)
    feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
    session.run(["sentence_embedding"], feeds)  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        session.run(["sentence_embedding"], feeds)  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - started)
    return batch.size / best


def evaluate(
    folder: Path,
    recipe: str,
    items: list[dict[str, object]],
    expected: np.ndarray,
    computes: tuple[str, ...] = ("fp32_compute", "int8_compute"),
) -> dict[str, object]:
    scratch = folder.parent / f".sweep-{recipe}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        started = time.monotonic()
        graph = scratch / "model_q4.onnx"
        quantization.quantize(folder / "onnx" / "model.onnx", graph, recipe)
        result: dict[str, object] = {
            "recipe": recipe,
            "mb": quantization.model_mb(graph),
            "quantize_s": round(time.monotonic() - started),
        }
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        for label, level in (("fp32_compute", None), ("int8_compute", 4)):
            if label not in computes:
                continue
            session = create_session(graph, 2, accuracy_level=level)
            result[label] = cosines(session, tokenizer, items, expected)
            result[f"{label}_tok_s"] = round(speed(session, tokenizer))
            del session
        result["load_after"] = os.getloadavg()[0]
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--recipes", default=",".join(quantization.RECIPE_NAMES))
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--computes", default="fp32_compute,int8_compute", help="which 4-bit compute modes"
    )
    args = parser.parse_args(argv)
    items, expected = load_reference(args.folder)
    results = []
    for recipe in args.recipes.split(","):
        result = evaluate(args.folder, recipe, items, expected, tuple(args.computes.split(",")))
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
