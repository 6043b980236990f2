"""Real texts to check embeddings against sentence-transformers: six languages, 8-2,048 tokens.

They come from the public retrieval sets in `../shared/eval/` (Wikipedia paragraphs of XQuAD
in five languages, SciFact abstracts in English), joined and cut to a token length, with the
query, document and titled-document prompts. Nothing here is committed as data: the texts are
read where the sets lie.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO.parent / "shared" / "eval"
SETS = {"en": "scifact-train", "zh": "xquad-zh", "ar": "xquad-ar", "de": "xquad-de",
        "ru": "xquad-ru", "hi": "xquad-hi"}  # fmt: skip
# Tokens of text after the prompt; the whole input (<bos>, prompt, text, <eos>) is capped at
# the model's limit of 2,048, so the longest inputs are exactly as long as the model takes.
LENGTHS = (8, 32, 128, 512, 1024, 2048)
MAX_INPUT_TOKENS = 2048
PROMPTS = (
    ("query", None, "task: search result | query: "),
    ("document", None, "title: none | text: "),
    ("document", "Field notes", "title: Field notes | text: "),
)


def available() -> bool:
    return all((EVAL_DIR / name / "corpus.jsonl").is_file() for name in SETS.values())


def corpus_text(language: str, limit_chars: int = 40_000) -> str:
    """Paragraphs of one language's set, joined by blank lines, up to `limit_chars`."""
    parts: list[str] = []
    size = 0
    with (EVAL_DIR / SETS[language] / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line)["text"].strip()
            parts.append(text)
            size += len(text) + 2
            if size >= limit_chars:
                break
    return "\n\n".join(parts)


def cut_to_tokens(tokenizer: Tokenizer, prompt: str, text: str, total: int) -> str:
    """The longest prefix of `text` whose input (prompt, <bos>, <eos>) stays within `total`."""
    room = total - len(tokenizer.encode(prompt, add_special_tokens=True).ids)
    encoding = tokenizer.encode(text, add_special_tokens=False)
    if room <= 0:
        return ""
    if len(encoding.ids) <= room:
        return text
    end = encoding.offsets[room - 1][1]
    while end > 0 and len(tokenizer.encode(prompt + text[:end]).ids) > total:
        end -= 1  # a merge across the cut can add a token: step back until it fits
    return text[:end]


def reference_inputs(tokenizer: Tokenizer) -> list[dict[str, object]]:
    """One item per language x length, the prompt rotating, plus every prompt at 128 tokens."""
    items: list[dict[str, object]] = []
    for language in SETS:
        text = corpus_text(language)
        for index, length in enumerate(LENGTHS):
            choices = PROMPTS if length == 128 else (PROMPTS[index % len(PROMPTS)],)
            for prompt_name, title, prompt in choices:
                overhead = len(tokenizer.encode(prompt).ids)  # <bos>, prompt, <eos>
                total = min(length + overhead, MAX_INPUT_TOKENS)
                body = cut_to_tokens(tokenizer, prompt, text, total)
                full = prompt + body
                items.append(
                    {
                        "id": f"{language}-{length}-{prompt_name}{'-titled' if title else ''}",
                        "language": language,
                        "tokens": len(tokenizer.encode(full).ids),
                        "prompt_name": prompt_name,
                        "title": title,
                        "text": body,
                        "input": full,
                    }
                )
    return items


def calibration_inputs(tokenizer: Tokenizer) -> list[str]:
    """Model inputs to calibrate a quantised export on, disjoint from `reference_inputs`: the
    paragraphs of each set after the ones the reference texts are cut from, as long documents,
    short documents and queries. Without the sets, the repository's own English corpus."""
    texts = []
    for language in SETS if available() else ():
        text = _later_text(language)
        for prompt, total in (
            ("title: none | text: ", 600),
            ("title: none | text: ", 60),
            ("task: search result | query: ", 16),
        ):
            body = cut_to_tokens(tokenizer, prompt, text, total)
            if body:  # a tokenizer that spends 16 tokens on the prompt and one character
                texts.append(prompt + body)
    if not texts:
        from models.corpus import CORPUS

        paragraphs = [p for p in CORPUS.split("\n\n") if p.strip()] or [CORPUS]
        texts = ["title: none | text: " + p.strip() for p in paragraphs]
    return texts


def _later_text(language: str, skip_chars: int = 40_000, limit_chars: int = 20_000) -> str:
    parts: list[str] = []
    seen = size = 0
    with (EVAL_DIR / SETS[language] / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line)["text"].strip()
            before, seen = seen, seen + len(text) + 2
            if before < skip_chars:  # corpus_text took it
                continue
            parts.append(text)
            size += len(text) + 2
            if size >= limit_chars:
                break
    return "\n\n".join(parts)
