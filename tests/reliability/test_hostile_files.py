"""Hostile files beside valid ones: every file ends with a clear status, in time, in bounded
memory, the app never crashes or hangs, and every valid file is indexed and found."""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from embeddinggemma_rag.core.engine import Engine
from embeddinggemma_rag.core.intake.documents import ParsedDocument
from embeddinggemma_rag.core.intake.file_walk import UNSTORABLE_NAME, iter_library_files
from embeddinggemma_rag.core.intake.ingestion import FileOutcome
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.reliability import hostile_files as hostile
from tests.reliability.helpers import MemorySampler, open_engine

PARSE_TIMEOUT = 8.0  # the app's default is 60 s; shorter here, so the suite stays quick
# A file's outcome may also wait for a parser restart after the previous file was killed
# (a fresh interpreter importing pypdf) and for its batch to be embedded.
OUTCOME_SLACK = 10.0
MAIN_RSS_GROWTH_MB = 100  # measured: 20 to 45 MB (README, Guarantees)

# name -> (builder, status, words the reason must hold)
Builder = Callable[[], bytes]
HOSTILE: dict[str, tuple[Builder, str, str]] = {
    "truncated.pdf": (hostile.truncated_pdf, "failed", "damaged or not a valid PDF"),
    "garbage.pdf": (hostile.garbage_pdf, "failed", "no PDF header"),
    "garbage-after-header.pdf": (hostile.garbage_after_header_pdf, "failed", "damaged"),
    "zero-bytes.pdf": (lambda: b"", "no_text", "empty file"),
    "xref-loop.pdf": (hostile.xref_loop_pdf, "indexed", ""),
    "xref-self-loop.pdf": (lambda: hostile.xref_loop_pdf(self_loop=True), "indexed", ""),
    "bomb.pdf": (hostile.bomb_pdf, "failed", "decompression bomb"),
    "bomb-50-pages.pdf": (lambda: hostile.bomb_pdf(pages=50), "failed", "decompression bomb"),
    "bomb-flate-in-flate.pdf": (hostile.double_bomb_pdf, "failed", "decompression bomb"),
    # 70 MB of text operators: inside pypdf's limits, but reading them takes minutes.
    "text-bomb.pdf": (hostile.text_bomb_pdf, "failed", f"timed out after {PARSE_TIMEOUT:g} s"),
    "deep-array.pdf": (hostile.deep_array_pdf, "failed", "damaged or not a valid PDF"),
    "deep-dictionary.pdf": (hostile.deep_dictionary_pdf, "no_text", "no extractable text"),
    "page-tree-loop.pdf": (hostile.page_tree_loop_pdf, "failed", "cyclic page"),
    "form-draws-itself.pdf": (hostile.form_loop_pdf, "indexed", ""),
    "scanned.pdf": (hostile.scanned_pdf, "no_text", "scanned or image-only"),
    "user-aes-256.pdf": (lambda: hostile.locked_pdf("AES-256"), "failed", "password-protected"),
    "user-aes-128.pdf": (lambda: hostile.locked_pdf("AES-128"), "failed", "password-protected"),
    "user-rc4-128.pdf": (lambda: hostile.locked_pdf("RC4-128"), "failed", "password-protected"),
    "user-rc4-40.pdf": (lambda: hostile.locked_pdf("RC4-40"), "failed", "password-protected"),
    "owner-only-aes-256.pdf": (lambda: hostile.locked_pdf("AES-256", ""), "indexed", ""),
    "owner-only-rc4-128.pdf": (lambda: hostile.locked_pdf("RC4-128", ""), "indexed", ""),
    "invalid-utf8.txt": (hostile.invalid_utf8_text, "indexed", ""),
    "utf16-bom.txt": (hostile.utf16_bom_text, "indexed", ""),
    "nul-in-head.txt": (hostile.nul_head_text, "failed", "not a text file (binary data)"),
    "nul-in-tail.txt": (hostile.nul_tail_text, "indexed", ""),
    "executable.md": (hostile.elf_like_binary, "failed", "not a text file (binary data)"),
    "picture.md": (hostile.png_like_binary, "failed", "not a text file (binary data)"),
}
# A word only that file holds, so keyword search proves it was indexed whole.
VALID: dict[str, tuple[bytes, str]] = {
    "valid-notes.md": (b"# Notes\n\nThe lighthouse keeper counts narwhals.\n", "narwhals"),
    "valid-plain.txt": (b"Invoice 42 for the aqueduct repairs.", "aqueduct"),
    "valid-report.pdf": (make_pdf(["The zeppelin hangar budget."], "Report"), "zeppelin"),
    "valid-page.html": (b"<title>Page</title><p>Bring the theodolite.</p>", "theodolite"),
}
FOUND_IN_HOSTILE = {
    "invalid-utf8.txt": "wombat",
    "utf16-bom.txt": "Quokka",
    "nul-in-tail.txt": "pangolin",
    "owner-only-aes-256.pdf": "okapi",
    "xref-loop.pdf": "xref",
}
HUGE_LINE = "one-line-200MB.txt"


def build_folder(root: Path) -> Path:
    root.mkdir()
    for name, (builder, _, _) in HOSTILE.items():
        (root / name).write_bytes(builder())
    for name, (data, _) in VALID.items():
        (root / name).write_bytes(data)
    hostile.write_single_line_text(root / HUGE_LINE, 200)
    return root


@pytest.mark.slow
def test_every_hostile_file_ends_clearly_in_time_and_bounded_memory(tmp_path: Path) -> None:
    folder = build_folder(tmp_path / "folder")
    warm = tmp_path / "warm"
    warm.mkdir()
    for n in range(30):  # a full batch: onnxruntime's arena grows on the first big one
        (warm / f"warm{n}.txt").write_text(f"Warm up the models and the parser, take {n}. " * 40)
    (warm / "warm-scan.pdf").write_bytes(hostile.scanned_pdf(1))  # loads the OCR models
    timings: dict[str, float] = {}
    outcomes: dict[str, FileOutcome] = {}
    last = [0.0]

    def on_file(outcome: FileOutcome) -> None:
        now = time.monotonic()
        timings[Path(outcome.path).name] = now - last[0]
        outcomes[Path(outcome.path).name] = outcome
        last[0] = now

    with open_engine(tmp_path / "library", parse_timeout_seconds=PARSE_TIMEOUT) as engine:
        engine.ingest([warm])  # the models and the parser start outside the measurement
        with MemorySampler() as memory:
            last[0] = time.monotonic()
            report = engine.ingest([folder], on_file=on_file)
        assert not report.cancelled

        expected = {name: (status, words) for name, (_, status, words) in HOSTILE.items()}
        expected |= {name: ("indexed", "") for name in VALID}
        expected[HUGE_LINE] = ("failed", "too large for the text limit (200 MB")
        assert set(outcomes) == set(expected)
        for name, (status, words) in expected.items():
            outcome = outcomes[name]
            assert (outcome.status, name) == (status, name), outcome.reason
            if status == "indexed":
                assert outcome.chunks > 0
            else:
                assert outcome.reason and words in outcome.reason, (name, outcome.reason)
        slowest = max(timings.values())
        assert slowest < PARSE_TIMEOUT + OUTCOME_SLACK, timings
        assert memory.growth_mb < MAIN_RSS_GROWTH_MB, memory
        assert memory.samples > 10

        for name, (_, word) in VALID.items():
            hits = engine.search(word, k=3, mode="keyword")
            assert hits and Path(hits[0].path).name == name, word
        for name, word in FOUND_IN_HOSTILE.items():
            hits = engine.search(word, k=3, mode="keyword")
            assert hits and Path(hits[0].path).name == name, word
        assert engine.library.consistency_report().ok
    print(
        f"\nhostile folder: {len(outcomes)} files in {report.seconds:.1f} s, slowest "
        f"{max(timings, key=timings.__getitem__)} {slowest:.1f} s; main RSS +"
        f"{memory.growth_mb:.0f} MB; parser peak RSS {memory.child_peak / 2**20:.0f} MB"
    )


def test_a_file_deleted_while_the_folder_is_scanned_fails_then_goes(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for n in range(4):
        (folder / f"a{n}.txt").write_text(f"Steady file {n} about the heron.")
    doomed = [folder / "m-deleted-before-stat.txt", folder / "n-deleted-before-parse.txt"]
    for path in doomed:
        path.write_text("This file vanishes during the ingest.")
    (folder / "z-last.txt").write_text("The last file is still indexed: the ibis.")

    with open_engine(tmp_path / "library") as engine:
        parse = engine._parser_worker().parse

        def parse_and_delete(
            path: Path, on_step: Callable[[str], None] | None = None
        ) -> ParsedDocument:
            if path.name == "a3.txt":
                doomed[0].unlink()  # the walk listed it; it is gone before the ingest looks
            if path == doomed[1]:
                path.unlink()  # stat and hash saw it; the parser does not
            return parse(path, on_step)

        engine._parser_worker().parse = parse_and_delete  # type: ignore[method-assign]
        report = engine.ingest([folder])
        by_name = {Path(o.path).name: o for o in report.outcomes}
        assert by_name["m-deleted-before-stat.txt"].status == "failed"
        assert "No such file" in str(by_name["m-deleted-before-stat.txt"].reason)
        assert by_name["n-deleted-before-parse.txt"].status == "failed"
        assert by_name["n-deleted-before-parse.txt"].reason == "file not found"
        assert by_name["z-last.txt"].status == "indexed"
        assert sum(o.status == "indexed" for o in report.outcomes) == 5

        again = engine.ingest([folder])  # the next sync forgets what is gone
        assert sorted(Path(p).name for p in again.removed) == sorted(p.name for p in doomed)
        assert engine.library.consistency_report().ok


def test_link_loops_and_dead_links_end_the_walk(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text("The real file about the kinkajou.")
    (folder / "sub" / "up").symlink_to("..")  # a folder loop
    (folder / "self.txt").symlink_to("self.txt")  # a link to itself (ELOOP)
    (folder / "ping.txt").symlink_to("pong.txt")  # two links to each other
    (folder / "pong.txt").symlink_to("ping.txt")
    (folder / "dead.txt").symlink_to("nowhere.txt")
    (folder / "alias.txt").symlink_to(folder / "sub" / "real.txt")

    started = time.monotonic()
    files = list(iter_library_files([folder]))
    assert time.monotonic() - started < 2
    assert sorted(p.relative_to(folder).as_posix() for p in files) == ["alias.txt", "sub/real.txt"]

    with open_engine(tmp_path / "library") as engine:
        report = engine.ingest([folder])
    assert {Path(o.path).name: o.status for o in report.outcomes} == {
        "alias.txt": "indexed",
        "real.txt": "indexed",
    }


def test_long_and_non_ascii_names_are_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    names = {
        "n" * 251 + ".txt": "axolotl",  # 255 bytes: the longest name Linux allows
        "名前-🦘-ノート.txt": "kangaroo",
        unicodedata.normalize("NFC", "Café-Über.md"): "composed",
        unicodedata.normalize("NFD", "Café-Über.md"): "decomposed",  # another file on Linux
        "עברית-العربية.txt": "righttoleft",
        "spaces and 'quotes' \"double\" (1).txt": "punctuation",
    }
    for name, word in names.items():
        (folder / name).write_text(f"Notes about the {word}.", encoding="utf-8")
    deep = folder
    while len(str(deep)) < 3700:  # near PATH_MAX (4096) once the file name is added
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("Deep down lives the capybara.")
    names["deep.txt"] = "capybara"

    # The default chunk size: titles fall back to the file name, and a 255-character one
    # takes more than a 128-token chunk holds (see the next test).
    with open_engine(tmp_path / "library", chunk_tokens=512, chunk_overlap_tokens=64) as engine:
        report = engine.ingest([folder])
        assert {o.status for o in report.outcomes} == {"indexed"}
        assert len(report.outcomes) == len(names)
        for name, word in names.items():
            hits = engine.search(word, k=1, mode="keyword")
            assert hits and Path(hits[0].path).name == name
            assert Path(hits[0].path).read_text(encoding="utf-8")  # the stored path opens


def test_names_that_are_not_unicode_are_passed_over_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    raw = os.fsencode(folder)
    with open(raw + b"/caf\xe9-latin1.txt", "wb") as odd:  # a Latin-1 name from an old archive
        odd.write(b"Latin-1 named file")
    os.mkdir(raw + b"/dossier-\xe9t\xe9")
    with open(raw + b"/dossier-\xe9t\xe9/inside.txt", "wb") as inside:
        inside.write(b"inside an undecodable folder")
    (folder / "fine.txt").write_text("A fine name about the tapir.")

    passed_over: list[tuple[str, str]] = []
    files = list(
        iter_library_files([folder], on_passed_over=lambda p, r: passed_over.append((p.name, r)))
    )
    assert [p.name for p in files] == ["fine.txt"]
    assert sorted(passed_over) == [
        ("caf\udce9-latin1.txt", UNSTORABLE_NAME),
        ("dossier-\udce9t\udce9", UNSTORABLE_NAME),
    ]

    with open_engine(tmp_path / "library") as engine:
        report = engine.ingest([folder])  # crashed with UnicodeEncodeError before
        indexed = [Path(o.path).name for o in report.outcomes if o.status == "indexed"]
        assert indexed == ["fine.txt"]
        # Either passed over in silence or reported as failed, never stored under a bad name.
        for outcome in report.outcomes:
            try:
                outcome.path.encode("utf-8")
            except UnicodeEncodeError:
                assert outcome.status == "failed" and "UTF-8" in str(outcome.reason)
        assert engine.library.consistency_report().ok


def test_a_title_longer_than_a_chunk_is_cut_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    # 200 rare ideographs (CJK extension B): a vocabulary without them spells each in four
    # byte tokens, more than the default 512-token chunk. Anyone can write a PDF's title.
    title = "".join(chr(0x20000 + n) for n in range(200))
    (folder / "a-hostile-title.pdf").write_bytes(hostile.titled_pdf(title, "Tapir census."))
    (folder / "b-after.txt").write_text("The file after it: the okapi count.")

    with open_engine(tmp_path / "library", chunk_tokens=512, chunk_overlap_tokens=64) as engine:
        report = engine.ingest([folder])
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        assert statuses == {"a-hostile-title.pdf": "indexed", "b-after.txt": "indexed"}
        assert all(c <= 512 for c in _chunk_tokens(engine))


def _chunk_tokens(engine: Engine) -> list[int]:
    rows = engine.library.store._db().execute("SELECT token_count FROM chunks")
    return [int(row[0]) for row in rows]
