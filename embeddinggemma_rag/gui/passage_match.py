"""Finding an indexed passage again in text extracted by another reader (Qt PDF, a reparse)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\S+")
ANCHOR_WORDS = 6  # enough words to be unique on a page, few enough to survive reader quirks
MAX_WORDS = 120  # a highlight longer than a screen helps nobody (and slows Qt PDF's search)


def _key(word: str) -> str:
    """Compare words by letters and digits only: readers differ on quotes, dashes, ligatures."""
    return "".join(ch for ch in word.casefold() if ch.isalnum())


def locate(haystack: str, passage: str) -> tuple[int, int] | None:
    """Character range of `haystack` holding `passage` (or its longest findable part).

    Whitespace and punctuation may differ between the two texts. The passage is anchored on
    its first few words; when those are not there (the two readers split or join a word
    differently), the anchor slides along the passage.
    """
    spans = [(m.start(), m.end(), _key(m.group())) for m in _TOKEN.finditer(haystack)]
    spans = [s for s in spans if s[2]]
    words = [k for k in map(_key, passage.split()) if k][:MAX_WORDS]
    keys = [s[2] for s in spans]
    if not words or not keys:
        return None
    starts: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        starts.setdefault(key, []).append(i)
    anchor = min(ANCHOR_WORDS, len(words))
    for offset in range(max(1, len(words) - anchor + 1)):
        window = words[offset : offset + anchor]
        for i in starts.get(window[0], ()):
            if keys[i : i + len(window)] == window:
                end = i + len(window)
                rest = words[offset + len(window) :]
                while end < len(keys) and rest and keys[end] == rest[0]:
                    end, rest = end + 1, rest[1:]
                return spans[i][0], spans[end - 1][1]
    return None


def utf16_offset(text: str, index: int) -> int:
    """Qt counts positions in UTF-16 code units; Python in code points."""
    return len(text[:index].encode("utf-16-le")) // 2


def passage_range(text: str, passage: str, char_start: int, char_end: int) -> tuple[int, int]:
    """Where to highlight in a document's text: the stored offsets when the text is unchanged,
    else wherever the passage is found; (0, 0) when it is gone."""
    stored = text[char_start:char_end] if 0 <= char_start < char_end <= len(text) else ""
    if stored and stored.split() == passage.split():
        return char_start, char_end
    return locate(text, passage) or (0, 0)
