"""Finding a library's files: a sorted folder walk that honours hidden files and .ragignore."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken

IGNORE_FILE_NAME = ".ragignore"  # gitignore syntax; applies to the folder it is in and below
UNSTORABLE_NAME = "its name is not valid Unicode (UTF-8), so it cannot be stored; rename it"

# Told about each file or folder the walk passes over for a reason the user can fix: (path, why).
PassedOver = Callable[[Path, str], None]


@dataclass(frozen=True)
class _Rules:
    base: str  # the folder holding the .ragignore; its patterns are relative to it
    spec: GitIgnoreSpec


@dataclass(frozen=True)
class _Folder:
    entries: Iterator[os.DirEntry[str]]
    rules: tuple[_Rules, ...]  # outermost first


def iter_library_files(
    roots: Sequence[Path],
    cancel: CancelToken = NEVER_CANCELLED,
    on_passed_over: PassedOver | None = None,
) -> Iterator[Path]:
    """Every regular file under the folder roots, in a stable order, supported or not.

    A root that is a file is yielded as it is (the user chose it, so neither hidden names nor
    ignore rules apply). Below folder roots, names starting with "." (and, on Windows, files
    marked hidden) are skipped, as is whatever a .ragignore excludes; unreadable folders are
    passed over; a folder reached again through a symbolic link is not walked twice, so link
    loops end. Raises Cancelled when `cancel` is set.

    A name that is not valid Unicode (Linux allows any bytes, e.g. Latin-1 names unpacked from
    an old archive) cannot be stored in the library: such a file or folder is passed over and
    reported to `on_passed_over`, so one odd name never stops the walk.
    """
    report = on_passed_over or _ignore
    visited: set[object] = set()  # identities of the folders walked so far (see _identity)
    for root in roots:
        cancel.raise_if_cancelled()
        root = Path(root)
        if not _storable(str(root)):
            report(root, UNSTORABLE_NAME)
            continue
        try:
            if root.is_dir():
                yield from _walk(root, visited, cancel, report)
            elif root.is_file():
                yield root
        except PermissionError:  # the root sits in a folder we may not look into
            continue


def _walk(
    root: Path, visited: set[object], cancel: CancelToken, report: PassedOver
) -> Iterator[Path]:
    # An explicit stack rather than recursion: folder trees can be deeper than Python's stack.
    first = _open_folder(str(root), (), visited, report)
    stack = [first] if first is not None else []
    while stack:
        folder = stack[-1]
        entry = next(folder.entries, None)
        if entry is None:
            stack.pop()
            continue
        cancel.raise_if_cancelled()
        if _is_hidden(entry):
            continue
        is_dir = _entry_is(entry, directory=True)
        if _is_ignored(entry.path, is_dir, folder.rules):
            continue
        if not _storable(entry.name) and (is_dir or _entry_is(entry, directory=False)):
            report(Path(entry.path), UNSTORABLE_NAME)
            continue
        if is_dir:
            child = _open_folder(entry.path, folder.rules, visited, report)
            if child is not None:
                stack.append(child)
        elif _entry_is(entry, directory=False):
            yield Path(entry.path)


def _open_folder(
    path: str, rules: tuple[_Rules, ...], visited: set[object], report: PassedOver
) -> _Folder | None:
    """The folder's sorted entries and the rules in force there; None if seen or unreadable."""
    try:
        identity = _identity(path)
        if identity in visited:
            return None
        visited.add(identity)
        with os.scandir(path) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):  # vanished or replaced meanwhile
        return None
    except OSError as error:  # permission denied, a path longer than the system allows...
        report(Path(path), f"folder not read ({error.strerror or error})")
        return None
    if any(entry.name == IGNORE_FILE_NAME for entry in entries):
        spec = _load_rules(os.path.join(path, IGNORE_FILE_NAME))
        if spec is not None:
            rules = (*rules, _Rules(path, spec))
    return _Folder(iter(entries), rules)


def _identity(path: str) -> object:
    """What makes a folder the same folder whichever link leads to it: device and inode, like
    `find` (one stat, where the real path costs a stat per path component), or the real path
    on file systems that report no inode numbers."""
    info = os.stat(path)  # follows links
    if info.st_ino:
        return (info.st_dev, info.st_ino)
    return os.path.realpath(path)


def _load_rules(path: str) -> GitIgnoreSpec | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    try:
        return GitIgnoreSpec.from_lines(lines)
    except ValueError:  # one malformed pattern should not void the others
        return GitIgnoreSpec.from_lines(line for line in lines if _is_valid_pattern(line))


def _is_valid_pattern(line: str) -> bool:
    try:
        GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _is_ignored(path: str, is_dir: bool, rules: tuple[_Rules, ...]) -> bool:
    # As in git, the deepest file that has an opinion decides; within a file the last
    # matching pattern wins (pathspec handles that, "!" negations included).
    for rule in reversed(rules):
        relative = os.path.relpath(path, rule.base).replace(os.sep, "/")
        verdict = rule.spec.check_file(relative + "/" if is_dir else relative).include
        if verdict is not None:
            return verdict
    return False


def _storable(name: str) -> bool:
    """Whether SQLite can store the name: undecodable bytes come as lone surrogates."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ignore(path: Path, reason: str) -> None:
    pass


def _is_hidden(entry: os.DirEntry[str]) -> bool:
    if entry.name.startswith("."):
        return True
    if sys.platform == "win32":  # free there: scandir already read the attributes
        try:
            attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
        except OSError:
            return False
        return bool(attributes & stat.FILE_ATTRIBUTE_HIDDEN)
    return False


def _entry_is(entry: os.DirEntry[str], directory: bool) -> bool:
    """Whether the entry (through symbolic links) is a folder, or a regular file."""
    try:
        return entry.is_dir() if directory else entry.is_file()
    except OSError:
        return False
