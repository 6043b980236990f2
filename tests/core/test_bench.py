"""The user's `bench` on the tiny models, and the in-memory 4-bit compute setting it measures.

Correctness only: timings are whatever this machine gives, so no test asserts a speed.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.cli.main import main
from embeddinggemma_rag.core.bench import BenchReport, format_report, run_bench, sample_text
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL

MODELS = ["--embedding-model", str(TINY_EMBEDDING_MODEL), "--generator-model", str(TINY_CHAT_MODEL)]


def tiny_settings(tmp_path: Path, **changes: object) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        generator_model=TINY_CHAT_MODEL,
        threads=1,
    )
    return settings.replace(**changes)


def test_bench_measures_embedding_and_answering(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_bench(tiny_settings(tmp_path), report=lines.append)
    (speed,) = result.embedding
    assert speed.tokens_per_input == Settings().chunk_tokens
    assert speed.inputs >= 2
    assert speed.tokens_per_second > 0 and speed.chunks_per_second > 0
    assert result.pages_per_minute is not None and result.pages_per_minute > 0
    assert result.query_milliseconds is not None and result.query_milliseconds > 0
    assert result.answer is not None, result.answer_problem
    assert result.answer.prompt_tokens > 0
    assert result.answer.answer_tokens >= 1
    assert 0 < result.answer.seconds_to_first_token < 600
    assert set(result.load_seconds) == {"embedding_model", "generator_model"}
    assert any("embedding" in line for line in lines)


def test_bench_without_a_generator_still_reports_embedding(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    result = run_bench(tiny_settings(tmp_path, generator_model=missing))
    assert result.embedding and result.embedding[0].tokens_per_second > 0
    assert result.answer is None
    assert result.answer_problem is not None and str(missing) in result.answer_problem


def test_bench_json_is_one_sane_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--json", *MODELS]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["threads"] >= 1
    assert document["embedding_model"] == str(TINY_EMBEDDING_MODEL)
    (embedding,) = document["embedding"]
    assert embedding["tokens_per_second"] > 0 and math.isfinite(embedding["tokens_per_second"])
    assert document["pages_per_minute"] > 0
    answer = document["answer"]
    assert answer["prompt_tokens"] > 0 and answer["answer_tokens"] >= 1
    assert document["answer_problem"] is None


def test_bench_table_names_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", *MODELS]) == 0
    table = capsys.readouterr().out
    for label in (
        "embedding compute",
        "CPU",
        "embedding,",
        "pages/minute",
        "embedding a question",
        "first answer token",
    ):
        assert label in table


def test_a_graph_with_one_way_still_names_the_cpu_its_figures_belong_to() -> None:
    """The int8 export has no 4-bit MatMuls, so nothing is chosen: the CPU is named anyway,
    since figures from two machines are compared by it."""
    table = format_report(BenchReport(threads=2, embedding_model="m", cpu="AMD EPYC (family 26)"))
    rows = dict(line.split(None, 1) for line in table.splitlines() if line.startswith("CPU"))
    assert rows == {"CPU": "AMD EPYC (family 26)"}
    assert "as the graph is written" in table


def test_sample_texts_have_the_asked_length() -> None:
    embedder = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1)
    for tokens in (64, 192, 512):
        for variant in range(3):
            counted = embedder.count_tokens(sample_text(embedder, tokens, variant))
            assert tokens - 1 <= counted <= tokens


def test_report_to_json_round_trips() -> None:
    report = BenchReport(threads=2, embedding_model="m")
    assert json.loads(json.dumps(report.to_json()))["pages_per_minute"] is None


# The 4-bit compute setting: applied in memory, never to the user's files ------------------


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_int8_compute_leaves_the_model_files_untouched(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(TINY_EMBEDDING_MODEL, model)
    before = _digests(model)
    names_before = sorted(p.name for p in (model / "onnx").iterdir())
    texts = ["boiler reset", "The annual inspection is due in March. " * 20]
    int8 = OnnxEmbedder(model, threads=1, accuracy_level=4).embed(texts)
    fp32 = OnnxEmbedder(model, threads=1, accuracy_level=None).embed(texts)
    assert _digests(model) == before
    assert sorted(p.name for p in (model / "onnx").iterdir()) == names_before
    cosines = np.sum(int8 * fp32, axis=1)
    assert cosines.min() >= 0.999


def test_int8_compute_works_from_a_read_only_folder(tmp_path: Path) -> None:
    model = tmp_path / "read-only"
    shutil.copytree(TINY_EMBEDDING_MODEL, model)
    for path in sorted(model.rglob("*"), reverse=True):
        path.chmod(stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))
    model.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        vectors = OnnxEmbedder(model, threads=1).embed(["boiler reset"])
    finally:
        for path in [model, *model.rglob("*")]:
            path.chmod(stat.S_IRWXU)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_fp32_graph_loads_as_before() -> None:
    embedder = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1, graph_name="onnx/model.onnx")
    plain = OnnxEmbedder(
        TINY_EMBEDDING_MODEL, threads=1, graph_name="onnx/model.onnx", accuracy_level=None
    )
    texts = ["boiler reset"]
    np.testing.assert_array_equal(embedder.embed(texts), plain.embed(texts))
