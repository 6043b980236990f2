"""load_tokenizer: pair-form merges read as strings give the same tokenizer, for less memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from embeddinggemma_rag.core.models import tokenizer_file
from embeddinggemma_rag.core.models.tokenizer_file import load_tokenizer
from tests.conftest import TINY_EMBEDDING_MODEL

TOKENIZER = TINY_EMBEDDING_MODEL / "tokenizer.json"
TEXTS = [
    "",
    "How do I reset the boiler after a power failure?",
    "Größe, café, naïve – 東京の天気は？ Привет, мир! 🚀",
    'Brackets ["a", "b"] and "quotes" \\ backslashes\n\ttabs',
]


def ids(tokenizer: Tokenizer) -> list[list[int]]:
    return [tokenizer.encode(text).ids for text in TEXTS]


def test_the_committed_tokenizer_has_pair_merges() -> None:
    merges = json.loads(TOKENIZER.read_text(encoding="utf-8"))["model"]["merges"]
    assert isinstance(merges[0], list)  # the form this module rewrites


def test_rewritten_merges_give_the_same_ids_and_are_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = ids(Tokenizer.from_file(str(TOKENIZER)))
    assert ids(load_tokenizer(TOKENIZER, tmp_path)) == expected
    cached = list(tmp_path.glob("tokenizer-*.json"))
    assert len(cached) == 1
    compact = json.loads(cached[0].read_text(encoding="utf-8"))["model"]["merges"]
    assert compact[0] == "▁ t" and all(isinstance(m, str) for m in compact)

    def no_rewrite(raw: bytes) -> bytes | None:
        raise AssertionError("the cached file should have been used")

    monkeypatch.setattr(tokenizer_file, "_merges_as_strings", no_rewrite)
    assert ids(load_tokenizer(TOKENIZER, tmp_path)) == expected


def test_a_changed_file_gets_a_new_cache_entry(tmp_path: Path) -> None:
    copy = tmp_path / "tokenizer.json"
    data = json.loads(TOKENIZER.read_text(encoding="utf-8"))
    copy.write_text(json.dumps(data, indent=2), encoding="utf-8")
    load_tokenizer(copy, tmp_path / "cache")
    data["model"]["merges"] = data["model"]["merges"][:-5]
    copy.write_text(json.dumps(data, indent=2), encoding="utf-8")
    fresh = load_tokenizer(copy, tmp_path / "cache")
    assert ids(fresh) == ids(Tokenizer.from_file(str(copy)))
    assert len(list((tmp_path / "cache").glob("tokenizer-*.json"))) == 2


def test_a_merge_holding_a_space_is_read_as_it_is(tmp_path: Path) -> None:
    data = json.loads(TOKENIZER.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab["a b"], vocab["a bc"] = len(vocab), len(vocab) + 1
    data["model"]["merges"].append(["a b", "c"])  # "a b c" would be ambiguous as a string
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert tokenizer_file._merges_as_strings(path.read_bytes()) is None
    assert ids(load_tokenizer(path, tmp_path / "cache")) == ids(Tokenizer.from_file(str(path)))
    assert not list((tmp_path / "cache").glob("tokenizer-*.json"))


def test_string_merges_are_left_alone(tmp_path: Path) -> None:
    data = json.loads(TOKENIZER.read_text(encoding="utf-8"))
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert tokenizer_file._merges_as_strings(path.read_bytes()) is None
    assert ids(load_tokenizer(path, tmp_path / "cache")) == ids(Tokenizer.from_file(str(TOKENIZER)))
