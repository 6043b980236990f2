"""Telling garbled text (unmapped glyphs, mojibake) from real text; removing control codes."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# C0 control codes other than tab and newline (and DEL): math fonts map glyphs to ESC and the
# like, which would reach the terminal through `search`.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Scripts that one language writes together, counted as one: Japanese mixes kanji and kana.
_SCRIPT_GROUPS = {
    "CJK": "EAST_ASIAN",
    "HIRAGANA": "EAST_ASIAN",
    "KATAKANA": "EAST_ASIAN",
    "HALFWIDTH": "EAST_ASIAN",
    "FULLWIDTH": "EAST_ASIAN",
    "IDEOGRAPHIC": "EAST_ASIAN",
    "HANGUL": "EAST_ASIAN",
    "BOPOMOFO": "EAST_ASIAN",
}
# "Ã©", "â€™": UTF-8 read as cp1252/latin-1, the commonest mojibake of Western text.
_UTF8_AS_LATIN1 = re.compile(r"[ÃÂâ][\x80-\xbf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")
_MIN_CHARACTERS = 20  # shorter text says too little either way
_MAX_BAD_SHARE = 0.05  # unassigned, private-use and replacement characters
_MAX_STRAY_SCRIPT_SHARE = 0.15  # letters outside the page's two main scripts
_MAX_MAIN_SCRIPTS = 3  # scripts holding at least 3 % of the letters each
_MAX_MOJIBAKE_SHARE = 0.03


def remove_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)


def is_garbled(text: str) -> bool:
    """True when text is mostly what a font without a Unicode map yields: code points
    scattered over many unrelated scripts, unassigned or private-use ones, U+FFFD, or
    UTF-8 decoded as Latin-1. Real text in any one language passes."""
    characters = [c for c in text if not c.isspace()]
    if len(characters) < _MIN_CHARACTERS:
        return False
    bad = sum(1 for c in characters if c == "\ufffd" or _is_unmapped(c))
    if bad > _MAX_BAD_SHARE * len(characters):
        return True
    if len(_UTF8_AS_LATIN1.findall(text)) > _MAX_MOJIBAKE_SHARE * len(characters):
        return True
    scripts = Counter(_script(c) for c in characters if c.isalpha())
    letters = sum(scripts.values())
    if letters < _MIN_CHARACTERS:
        return False
    main_two = sum(count for _, count in scripts.most_common(2))
    if letters - main_two > _MAX_STRAY_SCRIPT_SHARE * letters:
        return True
    main = sum(1 for count in scripts.values() if count >= 0.03 * letters)
    return main > _MAX_MAIN_SCRIPTS


def _is_unmapped(character: str) -> bool:
    """Unassigned or private-use code points, and C1 control codes (bytes 0x80-0x9F read as
    Latin-1): what a glyph without a Unicode mapping comes out as."""
    return unicodedata.category(character) in ("Cn", "Co") or "\x80" <= character <= "\x9f"


def _script(character: str) -> str:
    """A letter's script, from the first word of its Unicode name (LATIN, GREEK, CJK...)."""
    word = unicodedata.name(character, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(word, word)
