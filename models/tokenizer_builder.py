"""Deterministic Gemma-style vocabularies and tokenizers for the generated stand-in models."""

from __future__ import annotations

import json
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

from models.corpus import CORPUS

# Gemma's fixed ids: the app and the tests rely on pad 0, eos 1, bos 2, unk 3.
PAD, EOS, BOS, UNK = "<pad>", "<eos>", "<bos>", "<unk>"
START_OF_TURN, END_OF_TURN = "<start_of_turn>", "<end_of_turn>"
SPECIAL_TOKENS = [PAD, EOS, BOS, UNK, "<mask>", START_OF_TURN, END_OF_TURN]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
SPACE = "\u2581"  # "▁": SentencePiece's visible space, as in Gemma's vocabulary
MAX_SYNTHETIC_LEN = 16
MODEL_MAX_LENGTH = 2048

# Our own Gemma-style chat template (not Google's text): an optional system message is folded
# into the first user turn, as Gemma has no system role; the prompt ends with an open model turn.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] | trim + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '')"
    " + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


def _corpus_words(text: str) -> Counter[tuple[str, ...]]:
    """Split normalised text into words that carry their leading '▁', as SentencePiece does."""
    words: Counter[tuple[str, ...]] = Counter()
    for line in text.split("\n"):
        normalised = line.strip().replace(" ", SPACE)
        start = 0
        for i in range(1, len(normalised) + 1):
            if i == len(normalised) or normalised[i] == SPACE:
                if i > start:
                    words[tuple(normalised[start:i])] += 1
                start = i
    return words


def _base_alphabet(text: str) -> list[str]:
    """Printable ASCII, the corpus' own characters, '▁', newline and tab as single tokens."""
    chars = {chr(c) for c in range(33, 127)} | set(text.replace(" ", "").replace("\n", ""))
    chars |= {SPACE, "\n", "\t"}
    return sorted(chars)


def _learn_merges(words: Counter[tuple[str, ...]], budget: int) -> list[tuple[str, str]]:
    """Classic BPE: merge the most frequent pair, ties by pair order, so runs are reproducible."""
    merges: list[tuple[str, str]] = []
    current = dict(words)
    while len(merges) < budget:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in current.items():
            for pair in pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best_count = max(pairs.values())
        if best_count < 2:
            break
        best = min(pair for pair, count in pairs.items() if count == best_count)
        merges.append(best)
        merged_token = best[0] + best[1]
        updated: dict[tuple[str, ...], int] = {}
        for word, count in current.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(merged_token)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            key = tuple(out)
            updated[key] = updated.get(key, 0) + count
        current = updated
    return merges


def fixed_tokens() -> list[str]:
    """Special tokens, byte tokens and single characters: the vocabulary before any merge."""
    return SPECIAL_TOKENS + BYTE_TOKENS + _base_alphabet(CORPUS)


def build_vocab(size: int, seed: int = 0) -> tuple[list[str], list[tuple[str, str]]]:
    """Return (tokens in id order, merges in rank order) for a vocabulary of exactly `size`.

    Layout: Gemma's special tokens, the 256 byte-fallback tokens, single characters, merges
    learnt on the built-in corpus, then (if the corpus runs out, e.g. for the real 262,144
    size) synthetic merges of existing tokens drawn from a seeded generator.
    """
    tokens = fixed_tokens()
    if size < len(tokens):
        raise ValueError(f"vocabulary size {size} is below the {len(tokens)} fixed tokens")
    merges = _learn_merges(_corpus_words(CORPUS), size - len(tokens))
    tokens += [a + b for a, b in merges]
    known = set(tokens)
    if len(known) != len(tokens):
        raise AssertionError("duplicate token in generated vocabulary")

    rng = random.Random(seed)
    pool = tokens[len(SPECIAL_TOKENS) + len(BYTE_TOKENS) :]
    while len(tokens) < size:
        # Skewed towards early (short) tokens, so lengths look like a real vocabulary's.
        left = pool[int(len(pool) * rng.random() ** 2)]
        right = pool[int(len(pool) * rng.random() ** 4)]
        # Merges never cross a word boundary, like the learnt ones, so real text tokenises sanely.
        token = left + right
        if SPACE in right or "\n" in token or "\t" in token or len(token) > MAX_SYNTHETIC_LEN:
            continue
        if token in known:
            continue
        known.add(token)
        tokens.append(token)
        pool.append(token)
        merges.append((left, right))
    return tokens, merges


def build_tokenizer(size: int, seed: int = 0) -> Tokenizer:
    """A `tokenizers` BPE with byte fallback laid out like Gemma's tokenizer.json."""
    tokens, merges = build_vocab(size, seed)
    vocab = {token: i for i, token in enumerate(tokens)}
    model = models.BPE(vocab=vocab, merges=merges, unk_token=UNK, fuse_unk=True, byte_fallback=True)
    tokenizer = Tokenizer(model)
    # Gemma has no pre-tokenizer and no dummy prefix: spaces simply become '▁'.
    tokenizer.normalizer = normalizers.Replace(" ", SPACE)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} $B:1 {EOS}:1",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])],
    )
    # No padding or truncation baked in: callers enable right padding with pad id 0 themselves.
    if tokenizer.get_vocab_size() != size:
        raise AssertionError(f"tokenizer has {tokenizer.get_vocab_size()} tokens, not {size}")
    return tokenizer


def tokenizer_config(
    chat_template: str | None = None, add_eos_token: bool = True
) -> dict[str, object]:
    """The transformers-style tokenizer_config.json matching `build_tokenizer`'s ids.

    EmbeddingGemma appends `<eos>` to every input; a chat model must not (llama.cpp would end
    every prompt with it), so chat checkpoints pass `add_eos_token=False`.
    """
    config: dict[str, object] = {
        "add_bos_token": True,
        "add_eos_token": add_eos_token,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": UNK,
        "mask_token": "<mask>",
        "additional_special_tokens": [START_OF_TURN, END_OF_TURN],
        "clean_up_tokenization_spaces": False,
        "model_max_length": MODEL_MAX_LENGTH,
        "padding_side": "right",
        "tokenizer_class": "GemmaTokenizer",
        "added_tokens_decoder": {
            str(i): {
                "content": token,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, token in enumerate(SPECIAL_TOKENS)
        },
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    return config


def write_json(path: Path, data: object) -> None:
    """Stable, diff-friendly JSON: generated files must be byte-identical across runs."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
