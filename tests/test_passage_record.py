"""One passage record from search to citation to JSON (issue 16): the passage search finds
is the one the answer cites, held unchanged, and the engine, the CLI's `--json` and the MCP
server's tools write it with the same fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embeddinggemma_rag.cli import model_commands
from embeddinggemma_rag.cli.main import main
from embeddinggemma_rag.core.engine import Engine, build_engine, load_settings, passage_json
from embeddinggemma_rag.core.records import Settings
from embeddinggemma_rag.core.self_test import copy_sample
from embeddinggemma_rag.server.mcp_server import LibraryTools
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.stubs import ScriptedGenerator

QUESTION = "How long is the Aurora kettle warranty?"


def scripted_engine(settings: Settings, read_only: bool = False) -> Engine:
    """The real embedding model and library; a chat model that cites [1], [2] (and [9])."""
    engine = build_engine(
        settings, read_only=read_only, generator_factory=lambda _: ScriptedGenerator()
    )
    engine.relevance_threshold = -1.0  # random weights: cosines mean nothing
    return engine


def test_a_cited_search_hit_is_the_same_passage_in_the_engine_the_cli_and_the_mcp_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--data-dir", str(tmp_path / "library")]
    options += ["--embedding-model", str(TINY_EMBEDDING_MODEL)]
    options += ["--generator-model", str(TINY_CHAT_MODEL)]
    # The settings every command below reads: the same passages, scored the same way.
    settings = load_settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        generator_model=TINY_CHAT_MODEL,
    )
    copy_sample(tmp_path / "docs")
    engine = scripted_engine(settings)
    try:
        engine.ingest([tmp_path / "docs"])
        hits = engine.search(QUESTION)
        answer = engine.ask(QUESTION)
    finally:
        engine.close()

    # The engine: a citation holds the search hit given under its number, the object itself.
    assert answer.passages == hits
    assert [c.number for c in answer.citations] == [1, 2]  # [9] was never given
    for citation in answer.citations:
        assert citation.hit is answer.passages[citation.number - 1]
    found = [passage_json(hit) for hit in hits]
    cited = [passage_json(c.hit, c.number) for c in answer.citations]
    # Every field a citation writes is its search hit's.
    assert all(found[c["number"] - 1][k] == v for c in cited for k, v in c.items() if k != "number")

    # The CLI's --json: the same passages, the same citations.
    monkeypatch.setattr(model_commands, "build_engine", scripted_engine)
    capsys.readouterr()
    assert main([*options, "search", QUESTION, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"] == found
    assert main([*options, "ask", QUESTION, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["citations"] == cited and printed["passages"] == found

    # The MCP server's tools, on a reader beside the library as `mcp` runs it.
    engine = scripted_engine(settings, read_only=True)
    try:
        tools = LibraryTools(engine)
        searched = tools.search(QUESTION, settings.top_k, settings.search_mode, None)
        served = tools.ask(QUESTION, settings.top_k, None)
    finally:
        engine.close()
    assert searched["passages"] == found
    assert served["citations"] == cited and served["passages"] == found
