"""Vectors with the real EmbeddingGemma's distribution, for libraries too large to embed here.

The real model embeds 2,600 passages and 800 questions of the public sets under
`../shared/eval/` once (about 10 minutes on two cores; cached). A library of any size is then
drawn around those passages: each vector is a real passage's vector plus Gaussian noise with
the real passages' covariance (x `NOISE`), normalised. At 2,600 points that gives nearest
neighbours at cosine 0.41 / 0.61 / 0.69 (p10 / p50 / p90) against the real 0.52 / 0.72 /
0.87, and the same mean pairwise cosine (0.06 against 0.09), so approximate indexes are
judged on the real model's geometry, not on uniform noise that flatters them. The questions
are the real question vectors. Without the real model nothing is drawn (callers fall back to
clustered random vectors and say so).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.common import CACHE, log, uses_real_weights

NOISE = 0.8
# (set, passages, questions): English science abstracts and Wikipedia in five languages.
SOURCES = [
    ("scifact-train", 1400, 300),
    *((f"xquad-{lang}", 240, 100) for lang in ("zh", "de", "ar", "hi", "ru")),
]
_CACHE = CACHE / "real-vectors"


def available() -> bool:
    from benchmarks.retrieval import default_eval_dirs

    return (_CACHE / "docs.npy").exists() or (uses_real_weights() and bool(default_eval_dirs()))


def load() -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors [2600, 768], question vectors [800, 768]) of the real model, unit."""
    docs, questions = _CACHE / "docs.npy", _CACHE / "questions.npy"
    if not docs.exists():
        _embed(docs, questions)
    return _unit(np.load(docs)), _unit(np.load(questions))


def _embed(docs_file: Path, questions_file: Path) -> None:
    from benchmarks.common import ensure_embedding_model
    from benchmarks.retrieval import default_eval_dirs
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    embedder = OnnxEmbedder(ensure_embedding_model(), threads=2)
    passages, questions = [], []
    for name, n_docs, n_questions in SOURCES:
        root = default_eval_dirs()[0] / name
        for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:n_docs]:
            row = json.loads(line)
            passages.append(embedder.document_input(row.get("title") or None, row["text"][:1500]))
        for line in (root / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:n_questions]:
            questions.append(embedder.query_input(json.loads(line)["text"]))
    log(f"real vectors: embedding {len(passages)} passages and {len(questions)} questions once")
    _CACHE.mkdir(parents=True, exist_ok=True)
    np.save(docs_file, _unit(embedder.embed(passages)))
    np.save(questions_file, _unit(embedder.embed(questions)))


def _unit(vectors: object) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


class RealLike:
    """Draws vectors around the real passages (see the module's docstring)."""

    def __init__(self) -> None:
        self.passages, self.questions = load()
        centred = self.passages - self.passages.mean(0)
        values, vectors = np.linalg.eigh(np.cov(centred.T))
        self._shape = (vectors * np.sqrt(np.clip(values, 0, None))).astype(np.float32)

    def draw(self, count: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(self.passages), count)
        noise = rng.standard_normal((count, self._shape.shape[0]), dtype=np.float32)
        drawn = self.passages[picks] + NOISE * (noise @ self._shape.T)
        return (drawn / np.linalg.norm(drawn, axis=1, keepdims=True)).astype(np.float32)
