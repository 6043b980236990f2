"""The embedding graph's compute, chosen per CPU by measurement and remembered.

No test asserts a speed: where the choice itself is checked, the measurement is replaced by
given figures, and the real measurement is only checked to be consistent with its choice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embeddinggemma_rag.core import compute_choice, paths
from embeddinggemma_rag.core.embedding import OnnxEmbedder
from tests.conftest import TINY_EMBEDDING_MODEL

TEXTS = ["boiler reset", "The annual inspection is due in March. " * 20]


def _cache() -> Path:
    return paths.cache_dir() / "compute-choice.json"


@pytest.fixture(autouse=True)
def _no_remembered_choice() -> None:
    """Other tests load the tiny model too: each test here starts from a machine never measured."""
    _cache().unlink(missing_ok=True)


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
