"""`embeddinggemma-rag mcp` end to end: the MCP SDK's own client starts the command over stdio
and calls its tools on a library ingested with the tiny models."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

from embeddinggemma_rag.cli.main import main
from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.self_test import copy_sample
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL

MODELS = ["--embedding-model", str(TINY_EMBEDDING_MODEL), "--generator-model", str(TINY_CHAT_MODEL)]
# Random-weight models make every cosine meaningless; these words vouch for the passage.
QUESTION = "How long is the Aurora kettle warranty?"
TOOLS = {"search", "ask", "list_documents", "read_passage"}


@pytest.fixture(autouse=True)
def short_answers() -> None:
    """The tiny random model never stops by itself: keep its answers short (settings file)."""
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "settings.toml").write_text("max_answer_tokens = 12\n", encoding="utf-8")


@pytest.fixture()
def library(tmp_path: Path) -> tuple[list[str], Path]:
    docs = tmp_path / "docs"
    copy_sample(docs)
    options = ["--data-dir", str(tmp_path / "library"), *MODELS]
    assert main([*options, "ingest", str(docs)]) == 0
    return options, docs


def with_client(options: list[str], scenario: Callable[[Client], Awaitable[None]]) -> None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "embeddinggemma_rag", *options, "mcp"],
        env=dict(os.environ),
        cwd=str(Path(__file__).resolve().parents[2]),
    )

    async def run() -> None:
        async with Client(server, read_timeout_seconds=120) as client:
            await scenario(client)

    anyio.run(run)


def payload(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(part, "text", "") for part in result.content)


def test_tools_are_listed_read_only_with_their_arguments(library: tuple[list[str], Path]) -> None:
    async def scenario(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.annotations is not None and tool.annotations.read_only_hint
            assert tool.description
        assert set(tools["search"].input_schema["properties"]) == {"query", "k", "mode", "scope"}
        assert tools["search"].input_schema["required"] == ["query"]

    with_client(library[0], scenario)


def test_search_then_read_the_passage_with_its_neighbours(
    library: tuple[list[str], Path],
) -> None:
    options, docs = library

    async def scenario(client: Client) -> None:
        found = payload(
            await client.call_tool("search", {"query": "descale vinegar", "mode": "keyword"})
        )
        first = found["passages"][0]
        assert Path(first["path"]).name == "kettle-manual.md"
        assert "vinegar" in first["text"] and first["score"] > 0
        scoped = payload(
            await client.call_tool(
                "search", {"query": "kettle", "k": 10, "scope": str(docs / "garden-notes.txt")}
            )
        )
        assert {Path(p["path"]).name for p in scoped["passages"]} <= {"garden-notes.txt"}

        read = payload(
            await client.call_tool("read_passage", {"chunk_id": first["chunk_id"], "neighbours": 2})
        )
        assert read["passage"]["text"] == first["text"]
        assert read["passage"]["chunk_id"] == first["chunk_id"]
        for neighbour in read["before"] + read["after"]:
            assert neighbour["path"] == first["path"]  # the same document, never another
        offsets = [c["char_start"] for c in [*read["before"], read["passage"], *read["after"]]]
        assert offsets == sorted(offsets)

        listed = payload(await client.call_tool("list_documents", {}))
        names = {Path(d["path"]).name: d for d in listed["documents"]}
        assert set(names) == {"kettle-manual.md", "garden-notes.txt", "observatory.html"}
        assert all(d["status"] == "indexed" and d["chunks"] > 0 for d in names.values())
        assert listed["folders"] == [str(docs)]

    with_client(options, scenario)


def test_ask_streams_its_answer_as_progress_and_lists_its_passages(
    library: tuple[list[str], Path],
) -> None:
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message or "")

    async def scenario(client: Client) -> None:
        result = await client.call_tool(
            "ask", {"question": QUESTION, "k": 3}, progress_callback=on_progress
        )
        answer = payload(result)
        assert answer["question"] == QUESTION and answer["grounded"]
        assert answer["answer"].strip()
        assert "".join(pieces).strip() == answer["answer"].strip()
        assert any(Path(p["path"]).name == "kettle-manual.md" for p in answer["passages"])

    with_client(library[0], scenario)


def test_bad_calls_get_errors_naming_the_problem_and_the_server_goes_on(
    library: tuple[list[str], Path], tmp_path: Path
) -> None:
    async def scenario(client: Client) -> None:
        bad = {
            ("search", json.dumps({"query": "kettle", "k": 100000})): "k must be between 1 and",
            ("search", json.dumps({"query": "kettle", "k": "many"})): "k",
            ("search", json.dumps({"query": "kettle", "mode": "psychic"})): "mode",
            ("search", json.dumps({"query": "   "})): "query is empty",
            ("search", json.dumps({"query": "x", "scope": str(tmp_path)})): "outside the library",
            ("search", json.dumps({"query": "x", "scope": "docs"})): "absolute path",
            ("read_passage", json.dumps({"chunk_id": 987654})): "no passage with chunk_id 987654",
            ("read_passage", json.dumps({"chunk_id": 1, "neighbours": 50})): "neighbours",
            ("ask", json.dumps({})): "question",
            ("no_such_tool", json.dumps({})): "no_such_tool",
        }
        for (tool, arguments), expected in bad.items():
            text = error_text(await client.call_tool(tool, json.loads(arguments)))
            assert expected in text, (tool, arguments, text)
            assert "Traceback" not in text
        # Still serving after every one of them.
        found = payload(await client.call_tool("search", {"query": "telescope", "k": 2}))
        assert found["passages"]

    with_client(library[0], scenario)


def test_the_server_writes_nothing_and_follows_an_ingest_beside_it(
    library: tuple[list[str], Path], tmp_path: Path
) -> None:
    options, docs = library
    data = tmp_path / "library"
    before = {p.name: p.stat().st_mtime_ns for p in data.iterdir() if not p.name.endswith("-shm")}

    async def scenario(client: Client) -> None:
        payload(await client.call_tool("search", {"query": "kettle"}))
        after = {p.name: p.stat().st_mtime_ns for p in data.iterdir() if p.name in before}
        assert after == before  # reading never saves the index or the database

        # The app (here the CLI) ingests a new file while the server is running.
        (docs / "zebra.md").write_text("# Zebra\n\nThe okapi is the zebra's forest cousin.\n")
        await anyio.to_thread.run_sync(lambda: main([*options, "ingest", str(docs)]))
        found = payload(await client.call_tool("search", {"query": "okapi", "mode": "vector"}))
        assert "zebra.md" in {Path(p["path"]).name for p in found["passages"]}

    with_client(options, scenario)
