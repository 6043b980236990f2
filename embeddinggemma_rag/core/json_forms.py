"""The JSON shapes of what the engine returns, one per record, shared by every caller that
speaks JSON (the CLI's `--json`, the MCP server) so a passage looks the same everywhere."""

from __future__ import annotations

from typing import Any

from embeddinggemma_rag.core.records import (
    Answer,
    ChunkRecord,
    Citation,
    DocumentRecord,
    SearchHit,
)


def _passage_json(passage: SearchHit) -> dict[str, Any]:
    """Where a passage comes from and what it says: the same fields for a search hit and a
    citation, which add their own around them (similarity and OCR; the citation's number)."""
    return {
        "path": passage.path,
        "title": passage.title,
        "page": passage.page,
        "score": passage.score,
        "text": passage.text,
        "chunk_id": passage.chunk_id,
        "char_start": passage.char_start,
        "char_end": passage.char_end,
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        **_passage_json(hit),
        "similarity": hit.similarity,
        "ocr": hit.ocr,
        "page_label": hit.page_label,
    }


def citation_json(citation: Citation) -> dict[str, Any]:
    return {"number": citation.number, **_passage_json(citation.hit)}


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "citations": [citation_json(c) for c in answer.citations],
        "grounded": answer.grounded,
        "cancelled": answer.cancelled,
        "passages": [hit_json(h) for h in answer.passages],
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
