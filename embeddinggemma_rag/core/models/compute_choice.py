"""Which way of running the embedding graph is fastest on this CPU: measured once, remembered.

A graph with 4-bit MatMuls (`MatMulNBits`) can multiply with fp32 or with int8 activations
(`accuracy_level` 4). Which is faster depends on the CPU, not on a rule: int8 was 15 % faster
on an AMD EPYC with AVX-512 VNNI and 14 % slower on an Intel Xeon with VNNI and AMX, where
onnxruntime runs int8 through other kernels (README, Performance). So the first time a model
loads on a machine, both are timed on the same text, and the faster is kept, remembered with
the CPU's identity, the model and the onnxruntime version, so later starts cost nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The two ways: None keeps each MatMulNBits as its file says (fp32 activations in the
# published graph); 4 multiplies with int8 activations.
CANDIDATES: dict[str, int | None] = {"fp32 activations": None, "int8 activations": 4}
# A batch like an ingest's (the app embeds about 1,024 tokens at a time); two timed runs each,
# alternating, after a warm-up: about a second on a laptop with the real model.
SAMPLE_ROWS = 4
SAMPLE_TOKENS = 256
TIMED_RUNS = 2
# CPU features that decide which kernels onnxruntime picks.
_FEATURES = (
    *("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16"),
    *("asimddp", "i8mm"),  # Arm: int8 dot products and matrix multiply
)


@dataclass(frozen=True)
class ComputeChoice:
    label: str
    accuracy_level: int | None
    tokens_per_second: dict[str, float]  # every candidate's figure, as measured
    cpu: str
    measured_now: bool  # False when taken from the cache


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name, family and model, and the instruction sets that matter here."""
    fields = cpuinfo_fields(cpuinfo)
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    present = [f for f in _FEATURES if f in flags]
    name = _name(fields)
    return f"{name} [{' '.join(present)}]" if present else name


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The model name with the family and model numbers: a virtual machine may give only the
    brand ("AMD EPYC"), and two generations behind one name differ twofold in int8 speed."""
    return _name(cpuinfo_fields(cpuinfo))


def _name(fields: dict[str, str]) -> str:
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpuinfo_fields(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields (macOS and Windows have no such file: none)."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if value.strip():
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def choose(
    model_id: str,
    threads: int,
    cache_file: Path,
    make_session: Callable[[int | None], object],
    sample: dict[str, np.ndarray],
) -> tuple[ComputeChoice, object]:
    """The faster candidate and its session: from the cache when this CPU, model and
    onnxruntime were measured before, else measured now (with `threads`) and remembered."""
    import onnxruntime as ort

    cpu = cpu_identity()
    # Not the thread count: the two ways give slightly different vectors, and a library's
    # passages and the questions asked of it must be embedded the same way, whichever
    # thread count each process runs (a CLI ingest and the window's search, say).
    key = hashlib.sha256(f"{cpu}|{model_id}|{ort.__version__}".encode()).hexdigest()
    cached = _read(cache_file).get(key)
    if cached and cached.get("label") in CANDIDATES:
        label = cached["label"]
        choice = ComputeChoice(
            label, CANDIDATES[label], dict(cached.get("tokens_per_second", {})), cpu, False
        )
        return choice, make_session(choice.accuracy_level)
    sessions = {label: make_session(level) for label, level in CANDIDATES.items()}
    rates = measure(sessions, sample)
    label = max(rates, key=lambda name: rates[name])
    for name in list(sessions):
        if name != label:
            del sessions[name]  # free the slower one's weights now
    choice = ComputeChoice(label, CANDIDATES[label], rates, cpu, True)
    entries = _read(cache_file)
    entries[key] = {
        **{k: v for k, v in asdict(choice).items() if k != "measured_now"},
        "model_id": model_id,
        "threads": threads,
        "onnxruntime": ort.__version__,
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    _write(cache_file, entries)
    return choice, sessions[label]


def measure(sessions: dict[str, object], sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Tokens/s of each session on the same batch: one warm-up, then alternating runs."""
    tokens = int(sample["attention_mask"].sum())
    for session in sessions.values():
        session.run(["sentence_embedding"], sample)  # type: ignore[attr-defined]
    best = {name: float("inf") for name in sessions}
    for _ in range(TIMED_RUNS):
        for name, session in sessions.items():
            started = time.perf_counter()
            session.run(["sentence_embedding"], sample)  # type: ignore[attr-defined]
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: round(tokens / max(seconds, 1e-9), 1) for name, seconds in best.items()}


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or damaged: measured again
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(entries, indent=2), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass  # a read-only config folder: measured again next time, nothing lost
