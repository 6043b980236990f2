"""The embedding graph's compute, chosen per CPU by measurement and remembered.

No test asserts a speed: where the choice itself is checked, the measurement is replaced by
given figures, and the real measurement is only checked to be consistent with its choice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.models import compute_choice
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.reliability.helpers import open_engine, tiny_settings
from tests.reliability.test_kills import make_corpus

TEXTS = ["boiler reset", "The annual inspection is due in March. " * 20]


def _cache() -> Path:
    return paths.cache_dir() / "compute-choice.json"


@pytest.fixture(autouse=True)
def _no_remembered_choice() -> Iterator[None]:
    """Other tests load the tiny model too: each test here starts from a machine never
    measured, and the session's remembered choice comes back afterwards (other tests compare
    libraries embedded in different tests: they must be embedded the same way)."""
    saved = _cache().read_bytes() if _cache().exists() else None
    _cache().unlink(missing_ok=True)
    yield
    if saved is None:
        _cache().unlink(missing_ok=True)
    else:
        _cache().write_bytes(saved)


def test_first_load_measures_both_and_keeps_the_faster() -> None:
    embedder = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1)
    choice = embedder.compute
    assert choice is not None and choice.measured_now
    assert set(choice.tokens_per_second) == set(compute_choice.CANDIDATES)
    assert choice.label == max(choice.tokens_per_second, key=choice.tokens_per_second.__getitem__)
    assert choice.accuracy_level == compute_choice.CANDIDATES[choice.label]
    forced = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1, accuracy_level=choice.accuracy_level)
    np.testing.assert_array_equal(embedder.embed(TEXTS), forced.embed(TEXTS))
    (entry,) = json.loads(_cache().read_text()).values()
    assert entry["label"] == choice.label and entry["model_id"] == embedder.model_id


def test_the_choice_follows_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    for faster in compute_choice.CANDIDATES:
        _cache().unlink(missing_ok=True)
        figures = {label: 20.0 if label == faster else 10.0 for label in compute_choice.CANDIDATES}
        monkeypatch.setattr(
            compute_choice, "measure", lambda sessions, sample, given=figures: dict(given)
        )
        choice = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute
        assert choice is not None and choice.label == faster and choice.measured_now


def test_later_loads_use_the_remembered_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    first = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute

    def no_measuring(*_: object) -> dict[str, float]:
        raise AssertionError("measured again although this CPU and model were measured")

    monkeypatch.setattr(compute_choice, "measure", no_measuring)
    again = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute
    assert first is not None and again is not None
    assert again.label == first.label and not again.measured_now
    assert again.tokens_per_second == first.tokens_per_second


def test_another_cpu_is_measured_again_another_thread_count_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute
    # One library, one way of embedding: a process with more threads keeps the choice.
    more_threads = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=2).compute
    assert first is not None and more_threads is not None
    assert not more_threads.measured_now and more_threads.label == first.label
    monkeypatch.setattr(compute_choice, "cpu_identity", lambda: "Another CPU [avx2]")
    other = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute
    assert other is not None and other.measured_now and other.cpu == "Another CPU [avx2]"
    assert len(json.loads(_cache().read_text())) == 2


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"x": {"label": "no such way"}}'])
def test_a_damaged_cache_is_measured_again(content: str) -> None:
    _cache().parent.mkdir(parents=True, exist_ok=True)
    _cache().write_text(content)
    choice = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1).compute
    assert choice is not None and choice.measured_now
    assert len(json.loads(_cache().read_text())) >= 1


def test_an_fp32_graph_has_nothing_to_choose() -> None:
    embedder = OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1, graph_name="onnx/model.onnx")
    assert embedder.compute is None


def test_the_cpu_identity_names_the_instruction_sets_that_matter() -> None:
    identity = compute_choice.cpu_identity()
    assert identity
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" in flags:
        assert "avx2" in identity


def test_two_generations_behind_one_brand_name_are_two_cpus(tmp_path: Path) -> None:
    """A virtual machine may name its CPU "AMD EPYC" whatever the generation: the family and
    model numbers tell Zen 4 from Zen 5, whose int8 units differ twofold in speed."""

    def cpuinfo(family: int, model: int) -> Path:
        path = tmp_path / f"cpuinfo-{family}-{model}"
        processor = (
            f"processor\t: {{n}}\nvendor_id\t: AuthenticAMD\ncpu family\t: {family}\n"
            f"model\t\t: {model}\nmodel name\t: AMD EPYC\n"
            "flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n\n"
        )
        path.write_text("".join(processor.format(n=n) for n in range(2)))
        return path

    zen4, zen5 = (
        compute_choice.cpu_identity(cpuinfo(25, 17)),
        compute_choice.cpu_identity(cpuinfo(26, 2)),
    )
    assert zen4 != zen5
    assert zen5 == "AMD EPYC (family 26, model 2) [avx2 avx512f avx512_vnni]"
    arm = tmp_path / "cpuinfo-arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\nCPU part\t: 0xd4f\n")
    assert compute_choice.cpu_identity(arm).endswith("[asimddp i8mm]")


def _prefer(monkeypatch: pytest.MonkeyPatch, faster: str) -> None:
    """A fresh measurement on this machine that finds `faster` faster."""
    _cache().unlink(missing_ok=True)
    figures = {label: 20.0 if label == faster else 10.0 for label in compute_choice.CANDIDATES}
    monkeypatch.setattr(compute_choice, "measure", lambda sessions, sample: dict(figures))


def _ranked(engine: Engine, queries: list[str]) -> list[list[tuple[int, float]]]:
    return [[(h.chunk_id, h.score) for h in engine.search(q, k=6)] for q in queries]


@pytest.mark.parametrize("first", list(compute_choice.CANDIDATES))
def test_a_library_is_searched_the_way_its_passages_were_embedded(
    first: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine's choice changes after an ingest (a cleared cache, a new onnxruntime, a
    noisy first measurement): questions keep being embedded the library's way, else two
    near-equal passages swap places (the flake this test was written for)."""
    other = next(label for label in compute_choice.CANDIDATES if label != first)
    corpus = make_corpus(tmp_path / "corpus", 6)
    queries = ["topic 3 details", "appendix seven", "measurement 12", "heron note"]
    _prefer(monkeypatch, first)
    with open_engine(tmp_path / "library") as engine:
        engine.ingest([corpus])
        assert engine.library.embedding_way() == first
        before = _ranked(engine, queries)

    _prefer(monkeypatch, other)
    with open_engine(tmp_path / "library") as engine:
        _ = engine.library
        assert engine.embedder.compute_way == first  # measured `other`, follows the library
        assert engine.library.embedding_way() == first
        assert _ranked(engine, queries) == before  # same ids, same scores to the last bit

    # A new, empty library takes what this machine measured fastest.
    _prefer(monkeypatch, other)
    with open_engine(tmp_path / "empty") as engine:
        _ = engine.library
        assert engine.embedder.compute_way == other
        assert engine.library.embedding_way() == other


def test_the_two_ways_embed_differently_enough_to_matter() -> None:
    """Why the library records its way: the ways' vectors are not the same."""
    vectors = [
        OnnxEmbedder(TINY_EMBEDDING_MODEL, threads=1, accuracy_level=level).embed(TEXTS)
        for level in compute_choice.CANDIDATES.values()
    ]
    assert not np.array_equal(vectors[0], vectors[1])


def test_a_read_only_reader_follows_the_library_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = list(compute_choice.CANDIDATES)
    _prefer(monkeypatch, first)
    with open_engine(tmp_path / "library") as engine:
        engine.ingest([make_corpus(tmp_path / "corpus", 2)])
    _prefer(monkeypatch, other)
    reader = build_engine(tiny_settings(tmp_path / "library"), read_only=True)
    try:
        _ = reader.library
        assert reader.embedder.compute_way == first
    finally:
        reader.close()
    with open_engine(tmp_path / "library") as engine:
        assert engine.library.embedding_way() == first
