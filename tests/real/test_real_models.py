"""The app on the real models: vectors as sentence-transformers makes them, answers with sources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.core.engine import Engine
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.generation import LlamaGenerator
from embeddinggemma_rag.core.settings import Settings
from tests.real.conftest import EVAL, require

pytestmark = pytest.mark.real

DIMENSIONS = (768, 512, 256, 128)
# The 4-bit graph as the app runs it (int8 compute) against sentence-transformers fp32: the
# lowest cosine measured per input length for the export recipe in use (README, Models), less
# 0.005 for run-to-run differences of the int8 kernels between CPUs.
Q4_MIN_COSINE = {8: 0.98, 32: 0.955, 128: 0.93, 512: 0.895, 1024: 0.885, 2048: 0.85}


def app_vectors(engine: Engine, items: list[dict[str, object]], dimension: int) -> np.ndarray:
    """The app's own `embed`: its prompts, its tokenizer handling, its Matryoshka cut."""
    rows = [
        engine.embed([str(i["text"])], str(i["prompt_name"]), i["title"], dimension)[0]  # type: ignore[arg-type]
        for i in items
    ]
    return np.array(rows)


def cut(vectors: np.ndarray, dimension: int) -> np.ndarray:
    part = vectors[:, :dimension]
    return part / np.linalg.norm(part, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def fp32_engine(real_embedding: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("lib"), embedding_model=real_embedding)
    engine = Engine(settings, embedder_factory=_fp32_embedder)
    yield engine
    engine.close()


def _fp32_embedder(settings: Settings):  # type: ignore[no-untyped-def]
    from embeddinggemma_rag.core.embedding import OnnxEmbedder

    assert settings.embedding_model is not None
    return OnnxEmbedder(settings.embedding_model, graph_name="onnx/model.onnx")


@pytest.fixture(scope="module")
def q4_engine(real_embedding: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("lib"), embedding_model=real_embedding)
    engine = Engine(settings)
    yield engine
    engine.close()


def test_reference_covers_languages_lengths_and_prompts(reference: tuple[list, np.ndarray]) -> None:
    items, _ = reference
    assert {i["language"] for i in items} >= {"en", "zh", "ar", "de", "ru", "hi"}
    assert min(i["tokens"] for i in items) <= 30 and max(i["tokens"] for i in items) == 2048
    assert {(i["prompt_name"], bool(i["title"])) for i in items} == {
        ("query", False),
        ("document", False),
        ("document", True),
    }


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_fp32_graph_equals_sentence_transformers(
    fp32_engine: Engine, reference: tuple[list, np.ndarray], dimension: int
) -> None:
    items, expected = reference
    cosines = np.sum(app_vectors(fp32_engine, items, dimension) * cut(expected, dimension), axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9999, items[worst]["id"]


def test_q4_graph_stays_within_the_measured_fidelity(
    q4_engine: Engine, reference: tuple[list, np.ndarray]
) -> None:
    items, expected = reference
    cosines = np.sum(app_vectors(q4_engine, items, 768) * expected, axis=1)
    for item, cosine in zip(items, cosines, strict=True):
        length = int(str(item["id"]).split("-")[1])
        assert cosine >= Q4_MIN_COSINE[length], (item["id"], float(cosine))


def test_gemma3_base_model_is_refused_with_a_clear_message(gemma3_base: Path) -> None:
    with pytest.raises(ModelError, match="has no chat template") as raised:
        LlamaGenerator(gemma3_base, context_tokens=512, threads=1)
    assert str(gemma3_base) in str(raised.value)


def scifact_library(folder: Path, count: int = 12) -> tuple[str, set[str]]:
    """A few real abstracts as text files, and a claim whose abstract is among them."""
    corpus = {
        (d := json.loads(line))["_id"]: d
        for line in (require(EVAL / "scifact-train/corpus.jsonl", "shared/eval is missing"))
        .read_text(encoding="utf-8")
        .splitlines()
    }
    queries = {
        (q := json.loads(line))["_id"]: q["text"]
        for line in (EVAL / "scifact-train/queries.jsonl").read_text(encoding="utf-8").splitlines()
    }
    qrels = [
        line.split("\t") for line in (EVAL / "scifact-train/qrels.tsv").read_text().splitlines()[1:]
    ]
    query_id, doc_id = qrels[0][0], qrels[0][1]
    chosen = [doc_id, *[d for d in list(corpus)[:count] if d != doc_id]][:count]
    for doc in chosen:
        text = corpus[doc]["title"] + "\n\n" + corpus[doc]["text"]
        (folder / f"abstract-{doc}.txt").write_text(text, encoding="utf-8")
    return queries[query_id], {str(folder / f"abstract-{doc_id}.txt")}


def test_ask_with_smollm2_answers_with_a_valid_citation(
    real_embedding: Path, smollm2: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    claim, relevant = scifact_library(docs)
    settings = Settings(
        data_dir=tmp_path / "lib", embedding_model=real_embedding, generator_model=smollm2
    )
    engine = Engine(settings)
    try:
        engine.ingest([docs])
        answer = engine.ask(f"What do the abstracts say about this claim: {claim}")
    finally:
        engine.close()
    assert answer.grounded and answer.text
    assert answer.citations, answer.text
    given = {h.chunk_id for h in answer.passages}
    assert all(c.chunk_id in given for c in answer.citations)
    assert relevant & {h.path for h in answer.passages}  # retrieval found the claim's abstract
