"""Keyword search in every script through the chunk store and the library, and the migration
of a library whose keyword index was built by unicode61 (schema 1)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus
from embeddinggemma_rag.core.library.chunk_store import (
    SCHEMA_VERSION,
    DocumentRecord,
    SqliteChunkStore,
)
from embeddinggemma_rag.core.library.keyword_text import query_tokens, token_spans
from embeddinggemma_rag.core.library.library import DB_NAME, Library

MODEL = "sha256-model-a"
PASSAGES = {
    "/zh.md": "迭代器是一种接口，为各种不同的数据结构提供统一的遍历器访问机制。",
    "/ja.md": "自動車保険料は毎年四月に改定されます。詳しくは契約書をご覧ください。",
    "/th.md": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทยและมีประชากรมาก",
    "/el.md": "Ο ναός εσεβάσθη από όλους τους κατοίκους της πόλης.",
    "/ar.md": "قالت لَهُ يا حَبِيبِي إنَّ المدينةَ جميلة في الربيع.",
}
# A word from inside each passage, typed as a person would: no spaces around it, or
# without accents and vowel marks.
QUERIES = {
    "/zh.md": ("遍历器", "遍历器"),
    "/ja.md": ("保険料", "保険料"),
    "/th.md": ("เมืองหลวง", "เมืองหลวง"),
    "/el.md": ("εσεβασθη", "εσεβάσθη"),
    "/ar.md": ("حبيبي", "حَبِيبِي"),
}
# The schema 1 keyword index, as earlier versions created it.
LEGACY_FTS = """
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');
"""


def unit_vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, 768)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(path: str) -> DocumentRecord:
    return DocumentRecord(path, 10, 1, "hash", Path(path).stem, FileStatus.INDEXED)


def fill(library: Library) -> None:
    filler = "Some unrelated notes about gardening and the weather this week."
    for seed, (path, text) in enumerate(PASSAGES.items()):
        chunks = [
            Chunk(filler, 0, len(filler), 1, 1, 10),
            Chunk(text, 100, 100 + len(text), 2, 2, 20),
        ]
        library.replace_document(record(path), chunks, unit_vectors(2, seed))


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    opened = Library.open(tmp_path / "library", 768, MODEL)
    fill(opened)
    yield opened
    opened.close()


@pytest.mark.parametrize("path", list(PASSAGES))
def test_a_word_inside_a_sentence_is_found_and_marked(library: Library, path: str) -> None:
    query, as_written = QUERIES[path]
    hits = library.search(query, None, 3, mode="keyword")
    assert [h.path for h in hits] == [path]
    hit = hits[0]
    assert (hit.page, hit.char_start, hit.char_end) == (2, 100, 100 + len(PASSAGES[path]))
    assert hit.text == PASSAGES[path]  # the stored text is untouched by the folding
    spans = token_spans(hit.text, query_tokens(query))
    assert [hit.text[start:end] for start, end in spans] == [as_written]


def test_a_single_chinese_character_is_found(library: Library) -> None:
    assert [h.path for h in library.search("遍", None, 3, mode="keyword")] == ["/zh.md"]


@pytest.mark.parametrize("query", ["？！。、…", "«»—", "🙂🙂", "ᚠᚢᚦᚨ", "OR NOT NEAR", '"*^:'])
def test_queries_without_a_known_word_find_nothing_and_never_fail(
    library: Library, query: str
) -> None:
    assert library.search(query, None, 3, mode="keyword") == []
    vector = unit_vectors(1, 7)[0]
    hybrid = library.search(query, vector, 3, mode="hybrid")
    assert len(hybrid) == 3  # the vector side alone


def _downgrade_to_schema_1(database: Path) -> None:
    """Make a current library look like one written before the keyword index changed."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.executescript(
            "DROP TRIGGER chunks_keywords_ai; DROP TRIGGER chunks_keywords_ad;"
            "DROP TRIGGER chunks_keywords_au; DROP TABLE chunks_keywords;"
            "DELETE FROM meta WHERE key = 'keyword_index_version';"
            "UPDATE meta SET value = '1' WHERE key = 'schema_version';" + LEGACY_FTS
        )
        db.commit()


def test_an_old_library_is_migrated_once_without_re_embedding(tmp_path: Path) -> None:
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, 768, MODEL)
    fill(library)
    library.save_index()
    library.close()
    _downgrade_to_schema_1(data_dir / DB_NAME)
    with contextlib.closing(sqlite3.connect(data_dir / DB_NAME)) as db:
        vectors_before = db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
        sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '遍历器'"
        assert db.execute(sql).fetchone()[0] == 0  # the old index could not find it

    library = Library.open(data_dir, 768, MODEL)
    try:
        report = library.open_report
        assert report.keywords_reindexed == 2 * len(PASSAGES)
        assert not report.rebuilt and report.vectors == 2 * len(PASSAGES)  # FAISS as saved
        assert "nothing re-embedded" in report.describe()
        assert [h.path for h in library.search("遍历器", None, 3, mode="keyword")] == ["/zh.md"]
        assert library.store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert library.store.integrity_ok()
    finally:
        library.close()
    with contextlib.closing(sqlite3.connect(data_dir / DB_NAME)) as db:
        assert db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall() == vectors_before
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert "chunks_fts" not in names and "chunks_ai" not in names

    library = Library.open(data_dir, 768, MODEL)  # said once: the next open has nothing to do
    try:
        assert library.open_report.keywords_reindexed == 0
        assert "keyword" not in library.open_report.describe()
    finally:
        library.close()


def test_the_keyword_index_follows_deletes_and_replacements(tmp_path: Path) -> None:
    store = SqliteChunkStore(tmp_path / "s.sqlite3")
    try:
        for text in (PASSAGES["/zh.md"], "其他内容"):
            chunk = Chunk(text, 0, len(text), 1, 1, 9)
            store.replace_document(record("/zh.md"), [chunk], unit_vectors(1))
        assert store.keyword_search("遍历器", 5) == []
        assert len(store.keyword_search("内容", 5)) == 1
        store.remove_documents("/zh.md")
        assert store.keyword_search("内容", 5) == [] and store.integrity_ok()
    finally:
        store.close()


def test_every_chunk_is_found_by_its_document_title_and_english_stems(tmp_path: Path) -> None:
    store = SqliteChunkStore(tmp_path / "s.sqlite3")
    try:
        texts = ["The pumps were serviced in May.", "Spare seals are kept in the shed."]
        chunks = [Chunk(t, 40 * i, 40 * i + len(t), 1, 1, 8) for i, t in enumerate(texts)]
        titled = DocumentRecord("/m.txt", 1, 1, "h", "Maintenance log", FileStatus.INDEXED)
        store.replace_document(titled, chunks, unit_vectors(2))
        assert len(store.keyword_search("maintenance", 5)) == 2  # the title is not in the text
        assert [store.chunks_by_ids([i])[0].text for i, _ in store.keyword_search("seal", 5)] == [
            texts[1]
        ]
        assert (
            store.chunks_by_ids([store.keyword_search("servicing pump", 5)[0][0]])[0].text
            == (texts[0])
        )
    finally:
        store.close()
