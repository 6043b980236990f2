"""Measure embedding throughput (tokens/s) of an ONNX model, optionally with accuracy_level=4."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.onnx_tools import set_matmulnbits_accuracy_level


def tokens_per_second(
    onnx_path: Path, seq_len: int, batch: int, threads: int, repeats: int, vocab: int
) -> dict[str, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    t0 = time.monotonic()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    load_s = time.monotonic() - t0
    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocab, size=(batch, seq_len), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 2, 1  # <bos> ... <eos>, like real inputs
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    session.run(["sentence_embedding"], feeds)  # warm-up: first run allocates and packs
    times = []
    for _ in range(repeats):
        t0 = time.monotonic()
        out = session.run(["sentence_embedding"], feeds)[0]
        times.append(time.monotonic() - t0)
    return {
        "load_s": load_s,
        "tokens_per_s": batch * seq_len / statistics.median(times),
        "first_vector_sum": float(out[0].sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="e.g. DIR/onnx/model_q4.onnx")
    parser.add_argument("--tokens", type=int, default=256, help="sequence length")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--vocab", type=int, default=262144)
    parser.add_argument(
        "--compare-accuracy-level",
        type=int,
        default=None,
        metavar="LEVEL",
        help="also time a copy of the graph with every MatMulNBits at this accuracy_level",
    )
    args = parser.parse_args(argv)
    measure = dict(
        seq_len=args.tokens,
        batch=args.batch,
        threads=args.threads,
        repeats=args.repeats,
        vocab=args.vocab,
    )
    report: dict[str, object] = {"model": str(args.model), **measure}
    report["default"] = tokens_per_second(args.model, **measure)
    if args.compare_accuracy_level is not None:
        # A sibling copy of the small graph file shares the same external weights file.
        # Unique name: several benchmarks may run at once on the same model folder.
        fd, name = tempfile.mkstemp(
            dir=args.model.parent,
            prefix=f".{args.model.stem}.acc{args.compare_accuracy_level}-",
            suffix=".onnx",
        )
        os.close(fd)
        variant = Path(name)
        shutil.copyfile(args.model, variant)
        try:
            set_matmulnbits_accuracy_level(variant, args.compare_accuracy_level)
            report[f"accuracy_level_{args.compare_accuracy_level}"] = tokens_per_second(
                variant, **measure
            )
        finally:
            variant.unlink()
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
