"""The library walk: order, hidden names, .ragignore rules, links, cancellation."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.errors import Cancelled
from embeddinggemma_rag.core.intake.file_walk import iter_library_files


def make_tree(root: Path, files: Iterable[str], content: str = "x") -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def walk(*roots: Path, base: Path | None = None) -> list[str]:
    """Yielded paths relative to `base` (the first root) with "/" separators."""
    base = base or roots[0]
    return [p.relative_to(base).as_posix() for p in iter_library_files(list(roots))]


def test_every_regular_file_in_sorted_order(tmp_path: Path) -> None:
    make_tree(tmp_path, ["b.txt", "a/z.pdf", "a/y/x.bin", "c.unknown"])

    assert walk(tmp_path) == ["a/y/x.bin", "a/z.pdf", "b.txt", "c.unknown"]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, [".secret.txt", ".git/config", "sub/.cache/x.txt", "sub/seen.txt"])

    assert walk(tmp_path) == ["sub/seen.txt"]


def test_explicit_file_root_is_yielded_even_when_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path, [".hidden.md", "folder/a.txt"])

    found = list(iter_library_files([tmp_path / ".hidden.md", tmp_path / "missing.txt"]))

    assert found == [tmp_path / ".hidden.md"]


def test_ragignore_patterns_and_negation(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        ["keep.txt", "drop.log", "important.log", "build/out.txt", "src/build/gen.txt",
         "src/main.py", "notes/draft.md", "top.tmp", "src/top.tmp"],
    )  # fmt: skip
    (tmp_path / ".ragignore").write_text(
        "# comment\n*.log\n!important.log\nbuild/\n/top.tmp\nnotes\n", encoding="utf-8"
    )

    assert walk(tmp_path) == ["important.log", "keep.txt", "src/main.py", "src/top.tmp"]


def test_nested_ragignore_adds_rules_below_its_folder(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        ["a.txt", "a.csv", "docs/a.txt", "docs/b.csv", "docs/keep.csv", "docs/deep/c.txt",
         "other/a.txt"],
    )  # fmt: skip
    (tmp_path / ".ragignore").write_text("*.csv\n", encoding="utf-8")
    # The nested file ignores .txt below docs/ and re-includes one file the outer rules drop.
    (tmp_path / "docs" / ".ragignore").write_text("*.txt\n!keep.csv\n", encoding="utf-8")

    assert walk(tmp_path) == ["a.txt", "docs/keep.csv", "other/a.txt"]


def test_an_ignored_folder_cannot_be_reopened_by_a_negation(tmp_path: Path) -> None:
    make_tree(tmp_path, ["private/x.txt", "private/public.txt"])
    (tmp_path / ".ragignore").write_text("private/\n!private/public.txt\n", encoding="utf-8")

    assert walk(tmp_path) == []  # as in git: rules cannot reach into an excluded folder


def test_malformed_pattern_does_not_void_the_file(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.log", "b.txt"])
    (tmp_path / ".ragignore").write_text("***/\\\n*.log\n", encoding="utf-8")

    assert walk(tmp_path) == ["b.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_loops_end_and_linked_folders_are_walked_once(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/a.txt", "real/sub/b.txt"])
    (tmp_path / "real" / "sub" / "loop").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "zlink").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "file-link.txt").symlink_to(tmp_path / "real" / "a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")

    assert walk(tmp_path) == ["file-link.txt", "real/a.txt", "real/sub/b.txt"]


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root and Windows ignore mode bits"
)
def test_unreadable_folder_is_passed_over(tmp_path: Path) -> None:
    make_tree(tmp_path, ["locked/a.txt", "open/b.txt"])
    (tmp_path / "locked").chmod(0)
    try:
        assert walk(tmp_path) == ["open/b.txt"]
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_unreadable_folder_is_passed_over_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores mode bits, so make scandir refuse one folder instead.
    make_tree(tmp_path, ["locked/a.txt", "open/b.txt"])
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)

    assert walk(tmp_path) == ["open/b.txt"]


def test_overlapping_roots_yield_each_file_once(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/x.txt", "b.txt"])

    assert walk(tmp_path, tmp_path / "a", base=tmp_path) == ["a/x.txt", "b.txt"]


def test_missing_root_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_library_files([tmp_path / "nope"])) == []


def test_cancel_stops_the_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, [f"d{i}/f{j}.txt" for i in range(5) for j in range(5)])
    cancel = CancelToken()
    files = iter_library_files([tmp_path], cancel)
    next(files)
    cancel.cancel()

    with pytest.raises(Cancelled):
        next(files)


def test_deep_trees_do_not_overflow_the_stack(tmp_path: Path) -> None:
    # A tree deeper than the recursion limit allows, with the limit lowered rather than the
    # tree made 1000+ deep: pytest's own clean-up (shutil.rmtree) recurses and would fail.
    folder = tmp_path
    for _ in range(300):
        folder = folder / "d"
        folder.mkdir()
    (folder / "leaf.txt").write_text("x", encoding="utf-8")
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 100)
    try:
        found = list(iter_library_files([tmp_path]))
    finally:
        sys.setrecursionlimit(old_limit)

    assert [path.name for path in found] == ["leaf.txt"]
