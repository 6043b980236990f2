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


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))


def _session(onnx_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def tokens_per_second(
    paths: dict[str, Path], seq_len: int, batch: int, threads: int, repeats: int, vocab: int
) -> dict[str, dict[str, float]]:
    """Time every graph on the same input, alternating runs so background load hits all alike."""
    sessions = {}
    load_s = {}
    for name, path in paths.items():
        t0 = time.monotonic()
        sessions[name] = _session(path, threads)
        load_s[name] = time.monotonic() - t0
    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocab, size=(batch, seq_len), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 2, 1  # <bos> ... <eos>, like real inputs
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    outputs = {}
    for name, session in sessions.items():
        outputs[name] = session.run(["sentence_embedding"], feeds)[0]  # warm-up: packs weights
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeats):
        for name, session in sessions.items():
            t0 = time.monotonic()
            session.run(["sentence_embedding"], feeds)
            times[name].append(time.monotonic() - t0)
    first = next(iter(outputs.values()))
    return {
        name: {
            "load_s": load_s[name],
            "tokens_per_s": batch * seq_len / statistics.median(times[name]),
            # The best run is the least disturbed by other processes on a shared machine.
            "best_tokens_per_s": batch * seq_len / min(times[name]),
            "cosine_to_first": _cosine(outputs[name], first),
        }
        for name in sessions
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
    paths = {"default": args.model}
    variant = None
    try:
        if args.compare_accuracy_level is not None:
            level = args.compare_accuracy_level
            # A sibling copy of the small graph file shares the same external weights file;
            # a unique name, as several benchmarks may run at once on one model folder.
            fd, name = tempfile.mkstemp(
                dir=args.model.parent, prefix=f".{args.model.stem}.acc{level}-", suffix=".onnx"
            )
            os.close(fd)
            variant = Path(name)
            shutil.copyfile(args.model, variant)
            set_matmulnbits_accuracy_level(variant, level)
            paths[f"accuracy_level_{level}"] = variant
        report.update(tokens_per_second(paths, **measure))
    finally:
        if variant is not None:
            variant.unlink()
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
