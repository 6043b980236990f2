"""Marking the query's words in passages: every script, exact offsets, snippets around them."""

from __future__ import annotations

from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextDocument

from embeddinggemma_rag.gui.text_views import insert_marked, snippet, terms_pattern


def marked_runs(text: str, question: str) -> list[str]:
    document = QTextDocument()
    plain, marked = QTextCharFormat(), QTextCharFormat()
    marked.setFontWeight(700)
    insert_marked(QTextCursor(document), text, terms_pattern(question), plain, marked)
    assert document.toPlainText() == text  # marking never changes the text
    runs: list[str] = []
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().fontWeight() == 700:
                runs.append(fragment.text())
            fragments += 1
        block = block.next()
    return runs


def test_words_are_marked_inside_chinese_japanese_and_thai_sentences() -> None:
    assert marked_runs("迭代器为各种数据结构提供统一的遍历器访问机制。", "遍历器在哪里") == [
        "遍历器"
    ]
    assert marked_runs("自動車保険料は毎年改定されます。", "保険料") == ["保険料"]
    assert marked_runs("กรุงเทพมหานครเป็นเมืองหลวง", "เมืองหลวง") == ["เมืองหลวง"]


def test_words_typed_without_accents_or_vowel_marks_are_marked_as_written() -> None:
    assert marked_runs("Ο ναός εσεβάσθη από όλους.", "εσεβασθη") == ["εσεβάσθη"]
    assert marked_runs("قالت يا حَبِيبِي اليوم", "حبيبي") == ["حَبِيبِي"]
    assert marked_runs("the warranty covers the kettle", "what is the warranty") == ["warranty"]


def test_a_long_snippet_starts_near_the_first_marked_word() -> None:
    text = "。".join(["无关的句子"] * 120) + "。遍历器在这里。"
    cut = snippet(text, terms_pattern("遍历器"), width=60)
    assert "遍历器" in cut and cut.startswith("…")
