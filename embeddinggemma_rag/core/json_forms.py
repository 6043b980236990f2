"""The JSON shapes of what the engine returns, one per record, shared by every caller that
speaks JSON (the CLI's `--json`, the MCP server) so a passage looks the same everywhere."""

from __future__ import annotations

from typing import Any

from embeddinggemma_rag.core.records import (
    Answer,
    ChunkRecord,
    DocumentRecord,
    SearchHit,
)


def passage_json(hit: SearchHit, number: int | None = None) -> dict[str, Any]:
    """A passage: where it comes from and what it says, then, for a search hit, its
    similarity, OCR flag and page label; for a citation (`number` given), its number first.
    The CLI's `--json` and the MCP server write search hits, answers' passages and
    citations with it."""
    place = {
        "path": hit.path,
        "title": hit.title,
        "page": hit.page,
        "score": hit.score,
        "text": hit.text,
        "chunk_id": hit.chunk_id,
        "char_start": hit.char_start,
        "char_end": hit.char_end,
    }
    if number is not None:
        return {"number": number, **place}
    return {**place, "similarity": hit.similarity, "ocr": hit.ocr, "page_label": hit.page_label}


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "citations": [passage_json(c.hit, c.number) for c in answer.citations],
        "grounded": answer.grounded,
        "cancelled": answer.cancelled,
        "passages": [passage_json(h) for h in answer.passages],
        "prompt_tokens": answer.prompt_tokens,
        "seconds_to_first_token": answer.seconds_to_first_token,
        "seconds": round(answer.seconds, 3),
    }


def document_json(record: DocumentRecord, ocr_pages: int = 0) -> dict[str, Any]:
    return {
        "path": record.path,
        "status": str(record.status),
        "reason": record.reason,
        "chunks": record.chunk_count,
        "title": record.title,
        "ocr_pages": ocr_pages,
    }


def chunk_json(chunk: ChunkRecord) -> dict[str, Any]:
    return {
        "chunk_id": chunk.id,
        "path": chunk.path,
        "title": chunk.title,
        "page": chunk.page_start,
        "page_end": chunk.page_end,
        "text": chunk.text,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
    }
