"""Reading documents into text: one parser per file type, and a sandbox for untrusted files."""

from __future__ import annotations

from embeddinggemma_rag.core.intake.parsing.registry import (
    BUILTIN_SUFFIXES as SUPPORTED_SUFFIXES,
)
from embeddinggemma_rag.core.intake.parsing.registry import is_supported, parse_file
from embeddinggemma_rag.core.intake.parsing.sandbox import ParserWorker

__all__ = ["SUPPORTED_SUFFIXES", "ParserWorker", "is_supported", "parse_file"]
