"""Keyword tokens for every script: folding, CJK bigrams, Thai trigrams, query tokens, spans."""

from __future__ import annotations

import pytest

from embeddinggemma_rag.core.library.keyword_text import (
    MAX_QUERY_TOKENS,
    QueryToken,
    fold_char,
    index_text,
    query_tokens,
    token_spans,
    tokens,
)


def marked(text: str, query: str) -> list[str]:
    return [text[start:end] for start, end in token_spans(text, query_tokens(query))]


def test_folding_drops_case_and_combining_marks_in_every_script() -> None:
    assert index_text("Café CRÈME Straße") == "cafe creme strasse"
    assert index_text("Ἐσεβάσθη ΚΑΛΗΜΈΡΑ") == "εσεβασθη καλημερα"  # tonos, breathing, final ς
    assert index_text("حَبِيبِي أحمد") == "حبيبي احمد"  # vowel marks, hamza on its seat
    assert index_text("ﬁne ① ＡＢＣ") == "fine 1 abc"  # compatibility forms
    assert fold_char("\u0301") == ""  # a lone combining accent
    assert index_text("cafe\u0301") == index_text("café")  # decomposed and composed agree


def test_hindi_spacing_vowel_signs_stay_inside_the_word() -> None:
    # SQLite's unicode61 cut हिन्दी into single consonants at each vowel sign.
    assert index_text("हिन्दी भाषा").split() == ["हिनदी", "भाषा"]


def test_cjk_runs_become_bigrams_with_the_last_character_alone() -> None:
    assert index_text("遍历器是接口") == "遍历 历器 器是 是接 接口 口"
    assert index_text("保険料は") == "保険 険料 料は は"
    assert index_text("한국어를 배워요") == "한국 국어 어를 를 배워 워요 요"  # syllables stay whole
    assert index_text("iPhone手机2016年") == "iphone 手机 机 2016 年"  # scripts split


def test_thai_runs_become_trigrams() -> None:
    # Thai vowel and tone marks above and below the line are combining marks: folded away.
    assert index_text("ภาษาไทย") == "ภาษ าษา ษาไ าไท ไทย ทย ย"


def test_query_tokens_use_full_ngrams_or_one_prefix() -> None:
    bigrams = [QueryToken("遍历", ngram=True), QueryToken("历器", ngram=True)]
    assert query_tokens("遍历器") == bigrams
    assert query_tokens("猫") == [QueryToken("猫", prefix=True, ngram=True)]
    assert [t.fts5() for t in query_tokens('Café "NEAR" 猫*')] == ['"cafe"', '"near"', '"猫"*']
    assert query_tokens(" !?…「」 ") == []
    assert len(query_tokens(" ".join(f"w{i}" for i in range(100)))) == MAX_QUERY_TOKENS


def test_token_spans_are_offsets_in_the_original_text() -> None:
    text = "Dans le café, 孔子说：遍历器在这里。Ἐσεβάσθη!"
    assert marked(text, "CAFE") == ["café"]
    assert marked(text, "遍历器") == ["遍历器"]
    assert marked(text, "εσεβασθη") == ["Ἐσεβάσθη"]
    # A single character is found in the middle of a run and at its end.
    assert marked("孔子说，子曰", "子") == ["子", "子"]
    assert marked("ภาษาไทยง่าย", "ไทย") == ["ไทย"]


def test_token_spans_of_decomposed_text_cover_the_marks() -> None:
    text = "une cafe\u0301 noire"
    ((start, end),) = token_spans(text, query_tokens("café"))
    assert text[start:end] == "cafe\u0301"


@pytest.mark.parametrize("text", ["", "   ", "!!!", "\x00", "🙂"])
def test_text_without_words_has_no_tokens(text: str) -> None:
    assert list(tokens(text)) == [] and index_text(text) == ""
