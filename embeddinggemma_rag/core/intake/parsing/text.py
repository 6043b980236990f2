"""Plain text, source code, data and configuration files, read as they are."""

from __future__ import annotations

from pathlib import Path

from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.encoding import decode_text, read_text_bytes

SUFFIXES = frozenset(
    {
        # prose and logs
        ".txt", ".text", ".log", ".rst", ".adoc", ".org", ".tex", ".bib", ".srt", ".vtt",
        # data and configuration
        ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".conf", ".properties", ".xml", ".xsd", ".graphql", ".proto",
        # source code
        ".py", ".pyi", ".ipynb", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt",
        ".kts", ".scala", ".groovy", ".gradle", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp",
        ".hh", ".hxx", ".m", ".mm", ".cs", ".fs", ".vb", ".go", ".rs", ".swift", ".dart",
        ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".hs", ".ml", ".mli", ".ex", ".exs",
        ".erl", ".clj", ".el", ".lisp", ".scm", ".sh", ".bash", ".zsh", ".fish", ".ps1",
        ".bat", ".cmd", ".sql", ".css", ".scss", ".sass", ".less", ".vue", ".svelte",
        ".cmake", ".mk", ".dockerfile", ".tf", ".nix", ".asm", ".s", ".v", ".vhd", ".zig",
        ".nim", ".f90", ".pas",
    }
)  # fmt: skip


def parse(path: Path) -> ParsedDocument:
    """The whole file as one pageless text; the title is left to the caller (the file name)."""
    text = decode_text(read_text_bytes(path), path)
    return ParsedDocument(title=None, pages=(PageText(page=None, text=text),))
