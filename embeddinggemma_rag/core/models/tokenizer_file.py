"""Loading a tokenizer.json with a fraction of the memory its newer merges format costs."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from tokenizers import Tokenizer

from embeddinggemma_rag.core.models import model_files

# tokenizers writes merges as pairs (["a", "b"]) since 0.20; it still reads the older form
# ("a b"). Parsing pairs peaks far higher: the real EmbeddingGemma tokenizer.json (514,906
# merges) peaked at 371 MB loaded as it is and at 217 MB with its merges rewritten, giving the
# same token ids. The older form cannot hold a token with a space in it: then the file is
# read as it is. (Gemma's tokens spell spaces as "▁".)
_STRING = rb'"((?:[^"\\]|\\.)*)"'
_PAIR = re.compile(rb"\s*\[\s*" + _STRING + rb"\s*,\s*" + _STRING + rb"\s*\]\s*(,?)")
_MERGES = re.compile(rb'"merges"\s*:\s*\[')
_SPACES = (b" ", b"\\u0020")


def load_tokenizer(path: Path, cache_dir: Path | None = None) -> Tokenizer:
    """`Tokenizer.from_file`, but pair-form merges are read as strings (the same tokenizer).

    Rewriting takes seconds in Python, so the rewritten file is kept in `cache_dir` under the
    original's SHA-256 (a changed file gets a new name, never a stale copy) and loaded from
    there next time.
    """
    path = Path(path)
    cached: Path | None = None
    if cache_dir is not None:
        cached = (
            cache_dir / f"tokenizer-{model_files.file_sha256(path, cache_dir / 'hashes.json')}.json"
        )
        if cached.is_file():
            return Tokenizer.from_file(str(cached))
    compact = _merges_as_strings(path.read_bytes())
    if compact is None:
        return Tokenizer.from_file(str(path))
    tokenizer = Tokenizer.from_buffer(compact)
    if cached is not None:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".partial")
            partial.write_bytes(compact)
            os.replace(partial, cached)
    return tokenizer


def _merges_as_strings(raw: bytes) -> bytes | None:
    """The file's bytes with every merge pair rewritten as "a b"; None when not possible."""
    found = _MERGES.search(raw)
    if found is None:
        return None
    pieces: list[bytes] = []
    position = found.end()
    while (pair := _PAIR.match(raw, position)) is not None:
        first, second, comma = pair.groups()
        if any(space in part for part in (first, second) for space in _SPACES):
            return None
        pieces.append(b'"' + first + b" " + second + b'"' + comma)
        position = pair.end()
    if not pieces:
        return None  # no merges, or already strings
    return raw[: found.end()] + b"".join(pieces) + raw[position:]
