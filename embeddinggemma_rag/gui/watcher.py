"""Watching the library's folders: changes on disk become one debounced re-ingest per source."""

from __future__ import annotations

import os
from collections.abc import Iterable

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from embeddinggemma_rag.gui.library_panel import owning_source
from embeddinggemma_rag.gui.signals import emit

DEBOUNCE_MS = 1500  # a copy or a save fires many events; wait for the disk to settle
# inotify watches are a per-user resource shared with other apps; past this many files only
# folders are watched (which still sees files added, removed and saved by renaming).
MAX_WATCHED_FILES = 2000


class LibraryWatcher(QObject):
    """Emits `changed` with the sources (added folders or files) to bring up to date.

    Qt's watcher is not recursive, so every folder that holds a document is watched, and
    documents themselves up to a cap. A source is re-ingested whole: unchanged files are
    skipped by size and mtime, and files gone from disk are pruned, so one walk covers
    additions, edits and deletions alike.
    """

    changed = Signal(list)

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._on_watcher_path_changed)
        self._watcher.fileChanged.connect(self._on_watcher_path_changed)
        self._sources: list[str] = []
        self._pending: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    def watch(self, sources: Iterable[str], documents: Iterable[str]) -> None:
        """Follow these sources and the folders (and files) of these documents."""
        self._sources = list(sources)
        documents = list(documents)
        folders = {s for s in self._sources if os.path.isdir(s)}
        folders |= {os.path.dirname(d) for d in documents}
        files = [s for s in self._sources if os.path.isfile(s)]
        files += documents[: max(0, MAX_WATCHED_FILES - len(files))]
        wanted = {p for p in folders | set(files) if os.path.exists(p)}
        current = set(self._watcher.directories()) | set(self._watcher.files())
        if stale := current - wanted:
            self._watcher.removePaths(sorted(stale))
        if new := wanted - current:
            self._watcher.addPaths(sorted(new))

    def set_debounce(self, milliseconds: int) -> None:
        self._timer.setInterval(milliseconds)

    def watched(self) -> list[str]:
        return self._watcher.directories() + self._watcher.files()

    def _on_watcher_path_changed(self, path: str) -> None:
        source = owning_source(path, self._sources)
        if source is None:
            return
        self._pending.add(source)
        self._timer.start()  # restarts: fires once things have been quiet for a while

    def _on_timer_timeout(self) -> None:
        pending, self._pending = sorted(self._pending), set()
        if pending:
            emit(self.changed, pending)
