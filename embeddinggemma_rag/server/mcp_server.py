"""`embeddinggemma-rag mcp`: the library served to Model Context Protocol clients over stdio.

Desktop assistants and editors that speak MCP can search the person's documents, ask them
questions and read passages, with the same engine, models and library as the app. The
server is read-only (no tool adds, removes or changes a file or the library) and offline
like the rest of the app. It may run beside the app or an ingest: it never saves the
library's files, and it reopens the library when the app has saved newer vectors.

Engine calls are synchronous and may take seconds (a first model load, an answer), so each
runs on a worker thread while the event loop keeps reading the client; they run one at a
time, since the engine holds one llama.cpp context and reopening the library must not
happen under a running search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from embeddinggemma_rag import __version__
from embeddinggemma_rag.core.engine import (
    Engine,
    answer_json,
    chunk_json,
    document_json,
    passage_json,
    path_prefix_bounds,
)
from embeddinggemma_rag.core.records import RagError

MAX_PASSAGES = 50  # enough for any assistant's context; more only floods it
MAX_NEIGHBOURS = 5
SearchMode = Literal["hybrid", "vector", "keyword"]
_T = TypeVar("_T")

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Searches and answers from the user's own documents, indexed on this computer by "
    "EmbeddingGemma RAG. Use `search` to find passages (each with its file, page and a "
    "chunk_id), `read_passage` to read one with its surroundings, `ask` for an answer "
    "written by the local model with numbered citations, and `list_documents` to see what "
    "the library holds. Cite the file and page of what you use."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)


class LibraryTools:
    """The tools' work, on the engine, without MCP: checks arguments, returns JSON shapes,
    and turns the engine's errors into messages for the client's model to read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def search(self, query: str, k: int, mode: SearchMode, scope: str | None) -> dict[str, Any]:
        query = _nonempty(query, "query")
        _check_count(k, "k", 1, MAX_PASSAGES)
        scope_path = self._scope(scope)
        hits = self._engine_call(lambda: self.engine.search(query, k, mode, scope_path))
        return {"query": query, "mode": mode, "passages": [passage_json(h) for h in hits]}

    def ask(
        self,
        question: str,
        k: int,
        scope: str | None,
        on_token: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        question = _nonempty(question, "question")
        _check_count(k, "k", 1, MAX_PASSAGES)
        scope_path = self._scope(scope)
        answer = self._engine_call(
            lambda: self.engine.ask(question, k=k, scope=scope_path, on_token=on_token)
        )
        return answer_json(answer)

    def list_documents(self, under: str | None) -> dict[str, Any]:
        scope = self._scope(under)
        status = self._engine_call(self.engine.status)
        prefix = str(scope) if scope else None
        documents = [
            document_json(d, status.ocr_pages.get(d.path, 0))
            for d in status.documents
            if prefix is None or _is_under(d.path, prefix)
        ]
        return {
            "documents": documents,
            "folders": status.sources,
            "chunks": status.chunks,
            "embedding_model": status.embedding_model,
        }

    def read_passage(self, chunk_id: int, neighbours: int) -> dict[str, Any]:
        _check_count(neighbours, "neighbours", 0, MAX_NEIGHBOURS)
        chunks = self._engine_call(lambda: self.engine.passage(chunk_id, neighbours))
        found = [c for c in chunks if c.id == chunk_id]
        if not found:
            raise ToolError(
                f"no passage with chunk_id {chunk_id} in the library: it may have been "
                "re-indexed since it was found; search again"
            )
        return {
            "passage": chunk_json(found[0]),
            "before": [chunk_json(c) for c in chunks if c.ordinal < found[0].ordinal],
            "after": [chunk_json(c) for c in chunks if c.ordinal > found[0].ordinal],
        }

    # Helpers ----------------------------------------------------------------------------

    def _engine_call(self, work: Callable[[], _T]) -> _T:
        """Follow the app's saves, then do the work; the engine's own errors (a missing
        model, a damaged library) reach the client as their message."""
        try:
            self.engine.follow_library()
            return work()
        except RagError as exc:
            raise ToolError(str(exc)) from exc

    def _scope(self, scope: str | None) -> Path | None:
        """A folder or file inside the library: an absolute path under an added folder."""
        if scope is None or not scope.strip():
            return None
        path = Path(scope).expanduser()
        if not path.is_absolute():
            raise ToolError(f"scope must be an absolute path, got {scope!r}")
        folders = self._engine_call(self.engine.library.sources)
        if not any(_is_under(str(path), folder) for folder in folders):
            listed = ", ".join(folders) if folders else "none yet"
            raise ToolError(f"scope {scope} is outside the library; its folders: {listed}")
        return path


def _is_under(path: str, folder: str) -> bool:
    """The library's own rule for a path at or under a folder (what scoped search uses)."""
    exact, lower, upper = path_prefix_bounds(folder)
    return path == exact or lower <= path < upper


def _nonempty(text: str, name: str) -> str:
    if not text.strip():
        raise ToolError(f"{name} is empty")
    return text


def _check_count(value: int, name: str, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ToolError(f"{name} must be between {low} and {high}, got {value}")


def build_server(engine: Engine) -> MCPServer:
    """The MCP server with its four tools, on an engine built by the caller."""
    tools = LibraryTools(engine)
    server = MCPServer(
        "embeddinggemma-rag",
        title="EmbeddingGemma RAG: your documents",
        instructions=INSTRUCTIONS,
        version=__version__,
    )
    one_at_a_time = anyio.CapacityLimiter(1)

    async def in_thread(work: Callable[[], _T]) -> _T:
        return await anyio.to_thread.run_sync(work, limiter=one_at_a_time)

    @server.tool(annotations=READ_ONLY)
    async def search(
        query: str, k: int = 6, mode: SearchMode = "hybrid", scope: str | None = None
    ) -> dict[str, Any]:
        """Find the passages of the user's documents that match a query, best first.

        mode: "hybrid" (meaning and words, the default), "vector" (meaning) or "keyword"
        (words). scope: an absolute folder or file path inside the library to search
        under. Each passage has its file path, title, page, text, score and chunk_id.
        """
        return await in_thread(lambda: tools.search(query, k, mode, scope))

    @server.tool(annotations=READ_ONLY)
    async def ask(
        question: str, ctx: Context, k: int = 6, scope: str | None = None
    ) -> dict[str, Any]:
        """Answer a question from the user's documents with the local model, citing the
        passages it used as [1], [2]. The answer streams as progress messages when the
        client asks for progress. When the documents do not cover the question, `grounded`
        is false and `passages` holds the closest ones."""
        written = 0

        def on_token(piece: str) -> None:
            nonlocal written
            written += 1
            anyio.from_thread.run(ctx.report_progress, written, None, piece)

        return await in_thread(lambda: tools.ask(question, k, scope, on_token))

    @server.tool(annotations=READ_ONLY)
    async def list_documents(under: str | None = None) -> dict[str, Any]:
        """The documents in the library with their status (indexed, failed, no_text,
        skipped), the reason when one was not indexed, their chunk counts and pages read by
        OCR; `under` keeps those inside one folder. Also the library's folders."""
        return await in_thread(lambda: tools.list_documents(under))

    @server.tool(annotations=READ_ONLY)
    async def read_passage(chunk_id: int, neighbours: int = 1) -> dict[str, Any]:
        """A passage found by `search` or cited by `ask` (its chunk_id), with up to
        `neighbours` passages before and after it in the same document (0 to 5)."""
        return await in_thread(lambda: tools.read_passage(chunk_id, neighbours))

    return server


def serve(engine: Engine) -> int:
    """Serve over stdio until the client closes the connection."""
    server = build_server(engine)
    try:
        server.run("stdio")
    finally:
        engine.close()
    return 0
