"""What every benchmark shares: the models, the machine, timing, memory and result rows."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GENERATED = REPO / "models" / "generated"
RANDOM_EMBEDDING = GENERATED / "embeddinggemma-300m-random"
# The real weights, when fetched and exported (README, Models): every benchmark then measures
# them, and the peers run the very same checkpoint. EMBEDDINGGEMMA_RAG_BENCH_RANDOM=1 forces
# the generated random-weight model.
REAL_EMBEDDING = GENERATED / "embeddinggemma-real"
REAL_CHECKPOINT = (
    Path(
        os.environ.get(
            "EMBEDDINGGEMMA_RAG_REAL_MODELS", Path.home() / ".cache/embeddinggemma-rag/real-models"
        )
    )
    / "embeddinggemma-300m"
)


def uses_real_weights() -> bool:
    return (
        os.environ.get("EMBEDDINGGEMMA_RAG_BENCH_RANDOM") != "1"
        and (REAL_EMBEDDING / "onnx" / "model_q4.onnx_data").exists()
        and (REAL_CHECKPOINT / "model.safetensors").exists()
    )


def real_embedding_model() -> Path | None:
    """The real weights' export (README, Models) when made, for the sections that measure
    quality and so cannot use random weights."""
    return REAL_EMBEDDING if uses_real_weights() else None


FULL_EMBEDDING = REAL_EMBEDDING if uses_real_weights() else RANDOM_EMBEDDING
FULL_CHAT = GENERATED / "gemma-3-1b-random-Q4_K_M.gguf"
RESULTS = REPO / "bench-results"
# Built libraries, PDFs and peer models survive between runs: only the first run pays for them.
CACHE = RESULTS / "cache"


@dataclass
class Row:
    """One line of the results table: our figure, the peer's, and the goal it is held to."""

    measurement: str
    ours: str
    peer: str = ""
    ratio: float | None = None  # ours / peer, > 1 means we are better (faster or smaller)
    goal: str = ""
    met: bool | None = None


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row


@dataclass(frozen=True)
class Context:
    quick: bool
    threads: int
    cache: Path = CACHE
    # Retrieval: the embedding model folder, BEIR folders (or folders of them), and the
    # most documents ingested per set.
    embedding_model: Path | None = None
    eval_sets: tuple[Path, ...] = ()
    max_docs: int = 1500
    max_queries: int = 0  # 0: every query
    # Chunk size and overlap in tokens, for measuring other choices (None: the app's).
    chunk_tokens: int | None = None
    chunk_overlap_tokens: int | None = None

    def repeats(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """The machine and the versions the figures belong to."""
    from embeddinggemma_rag.core.models.compute_choice import cpu_name
    from embeddinggemma_rag.core.paths import physical_cores

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "flags": _cpu_flags(),
    }
    info["embedding_weights"] = "real" if uses_real_weights() else "random (generated)"
    for package in ("onnxruntime", "tokenizers", "faiss", "llama_cpp", "torch", "pypdf"):
        try:
            module = __import__(package)
            info[f"{package}_version"] = getattr(module, "__version__", "?")
        except ImportError:
            info[f"{package}_version"] = None
    return info


def _cpu_flags() -> list[str]:
    from embeddinggemma_rag.core.models.compute_choice import cpuinfo_fields

    wanted = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "fma"}
    return sorted(wanted & set(cpuinfo_fields().get("flags", "").split()))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def interleaved(
    runners: dict[str, Callable[[], float]], rounds: int, pause: float = 0.3
) -> dict[str, list[float]]:
    """Run each measurement once per round, rotating the order, so all see the same load.

    Each runner returns its own figure (seconds or a rate). The pause lets threads that spin
    after their work (OpenMP) go idle before the next one starts.
    """
    names = list(runners)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(runners[name]())
            time.sleep(pause)
    return results


def matmul_peak_macs() -> float:
    """fp32 multiply-accumulates per second of a large numpy matrix product: our yardstick."""
    import numpy as np

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return _macs_per_second(lambda: a @ b, n)


def _macs_per_second(product: Callable[[], object], n: int) -> float:
    """n³ over the best of five runs of an n x n matrix `product`, after one warm-up run
    (threads start, pages fault in, weights are packed)."""
    product()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return n**3 / best


def int8_matmul_peak_macs(threads: int) -> float:
    """int8 multiply-accumulates per second of onnxruntime's int8 MatMul with a constant,
    prepacked weight and dynamically quantised activations, as the app's int8 graph runs
    its projections (VNNI or AMX where the CPU has them): the int8 yardstick."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    n = 2048
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, (n, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("DynamicQuantizeMatMul", ["a", "b", "s"], ["y"], domain="com.microsoft")],
        "peak",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        [
            numpy_helper.from_array(weight, "b"),
            numpy_helper.from_array(np.ones(n, np.float32), "s"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    a = rng.standard_normal((n, n), dtype=np.float32)
    return _macs_per_second(lambda: session.run(None, {"a": a}), n)


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, VmHWM (peak resident set), RssAnon and RssFile of a process, in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def ensure_embedding_model() -> Path:
    """The real EmbeddingGemma when exported, else the full-size random one, generated on
    first use (about 5 minutes)."""
    if uses_real_weights():
        return REAL_EMBEDDING
    return _ensure(
        FULL_EMBEDDING / "onnx" / "model_q4.onnx_data",
        FULL_EMBEDDING,
        ["-m", "models.generate_embedding_model", "--size", "full", "--out", str(FULL_EMBEDDING)],
    )


def ensure_chat_model() -> Path:
    """The full-size random Gemma-3-1B Q4_K_M GGUF, generated on first use."""
    return _ensure(
        FULL_CHAT,
        FULL_CHAT,
        ["-m", "models.generate_chat_model", "--size", "full", "--out", str(FULL_CHAT)],
    )


def _ensure(done: Path, target: Path, command: list[str]) -> Path:
    # Another engineer may be generating the same model: a marker file says so, and we wait
    # rather than start a second 3 GB export of the same thing.
    marker = target.with_name(target.name + ".GENERATING")
    waited = 0.0
    while marker.exists() and not done.exists() and waited < 1800:
        if waited == 0:
            log(f"waiting for {target.name}, being generated elsewhere")
        time.sleep(10)
        waited += 10
    if done.exists():
        return target
    log(f"generating {target.name} (minutes; once)")
    GENERATED.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"benchmarks, pid {os.getpid()}\n")
    try:
        subprocess.run([sys.executable, *command], cwd=REPO, check=True)
    finally:
        marker.unlink(missing_ok=True)
    return target


def fmt_rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
