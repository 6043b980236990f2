"""The library: added folders and files, each file's status, reason and passage count."""

from __future__ import annotations

import os
from collections.abc import Iterable

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import DocumentRecord, FileOutcome, FileStatus
from embeddinggemma_rag.gui.engine_host import FilesFound
from embeddinggemma_rag.gui.library_rows import RowDelegate
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import button

PATH_ROLE = Qt.ItemDataRole.UserRole
NAME, STATUS, PASSAGES = range(3)
# Rows of files not done yet (their STATUS data, beside FileStatus values).
QUEUED, IN_PROGRESS, NOT_INDEXED = "queued", "in_progress", "not_indexed"
_WAITING_TEXT = {
    QUEUED: "Queued",
    IN_PROGRESS: "Indexing…",
    NOT_INDEXED: "Not indexed: indexing was cancelled (Resume indexes it)",
}


def plural(count: int, word: str, many: str = "") -> str:
    """'1 file', '2 files', '1,024 passages'."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


_STATUS_TEXT = {
    FileStatus.INDEXED: "Indexed",
    FileStatus.SKIPPED: "Skipped",
    FileStatus.NO_TEXT: "No text",
    FileStatus.FAILED: "Failed",
}
_STATUS_ICON = {
    FileStatus.INDEXED: QStyle.StandardPixmap.SP_DialogApplyButton,
    FileStatus.SKIPPED: QStyle.StandardPixmap.SP_MessageBoxInformation,
    FileStatus.NO_TEXT: QStyle.StandardPixmap.SP_MessageBoxWarning,
    FileStatus.FAILED: QStyle.StandardPixmap.SP_MessageBoxCritical,
}


def owning_source(path: str, sources: Iterable[str]) -> str | None:
    """The added folder or file that `path` belongs to (the deepest one)."""
    owners = [s for s in sources if path == s or path.startswith(s.rstrip(os.sep) + os.sep)]
    return max(owners, key=len, default=None)


def _summary(statuses: list[str]) -> str:
    """A folder's row: how far indexing got, or how many files and problems it has."""
    total = len(statuses)
    not_indexed = statuses.count(NOT_INDEXED)
    if not_indexed:
        return f"Partial: {plural(not_indexed, 'file')} not indexed (Resume indexes them)"
    waiting = statuses.count(QUEUED) + statuses.count(IN_PROGRESS)
    if waiting:
        return f"Indexing: {total - waiting:,} of {plural(total, 'file')} done"
    problems = sum(1 for s in statuses if s in (FileStatus.FAILED, FileStatus.NO_TEXT))
    return plural(total, "file") + (f", {problems:,} with problems" if problems else "")


class LibraryPanel(QWidget):
    """A tree of sources (top level) and their files; rows update live while indexing."""

    add_folder_clicked = Signal()
    add_files_clicked = Signal()
    rescan_clicked = Signal()
    remove_requested = Signal(list)  # source paths
    scope_requested = Signal(str)  # "ask about this"
    open_requested = Signal(str)  # open a file in the system app
    resume_requested = Signal(list)  # sources whose indexing was cancelled part-way
    preview_requested = Signal(str)  # a file double-clicked or Enter: shown in the viewer
    counts_changed = Signal(int, int)  # indexed documents, passages

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sources: dict[str, QTreeWidgetItem] = {}
        self._files: dict[str, QTreeWidgetItem] = {}
        self.hint = QLabel("Drop folders or files here, or use Add folder… to build the library.")
        self.hint.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Library")
        self.tree.setHeaderLabels(["Name", "Status", "Passages"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu_requested)
        self.tree.itemSelectionChanged.connect(self._on_tree_item_selection_changed)
        self.tree.itemActivated.connect(self._on_tree_item_activated)
        # The whole reason, wrapped, never "Failed: damaged or not…": it is what users scan for.
        self.tree.setWordWrap(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setUniformRowHeights(False)
        self.tree.setItemDelegate(RowDelegate(self.tree, NAME, STATUS))
        self.problems_only = QCheckBox("Only problems")
        self.problems_only.setToolTip("Show only files that failed or hold no text")
        self.problems_only.toggled.connect(self._apply_filter)
        header = self.tree.header()
        header.setStretchLastSection(False)
        # The status column takes the room left: its reason is what a user scans for.
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(NAME, 190)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PASSAGES, QHeaderView.ResizeMode.ResizeToContents)
        header.sectionResized.connect(lambda *_: self.tree.scheduleDelayedItemsLayout())
        self.add_folder_button = button("Add folder…", self.add_folder_clicked, tip="Ctrl+O")
        self.add_files_button = button("Add files…", self.add_files_clicked)
        self.remove_button = button(
            "Remove",
            self._on_remove_button_clicked,
            tip="Forget the selected folders or files (they stay on disk)",
        )
        self.remove_button.setEnabled(False)
        self.rescan_button = button(
            "Re-scan", self.rescan_clicked, tip="Pick up files added, changed or deleted on disk"
        )
        self.resume_button = button(
            "Resume",
            self._on_resume_button_clicked,
            "Resume indexing",
            "Index the files a cancelled indexing did not reach",
        )
        self.resume_button.hide()
        # Two rows, adding above and tending below: in one row the panel could not be
        # narrower than 464 px, and a narrow window's viewer then squeezed the conversation.
        adding = QHBoxLayout()
        adding.addWidget(self.add_folder_button)
        adding.addWidget(self.add_files_button)
        adding.addStretch(1)
        adding.addWidget(self.rescan_button)
        tending = QHBoxLayout()
        tending.addWidget(self.problems_only)
        tending.addStretch(1)
        tending.addWidget(self.resume_button)
        tending.addWidget(self.remove_button)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.addLayout(adding)
        self.layout_.addLayout(tending)
        self.layout_.addWidget(self.hint)
        self.layout_.addWidget(self.tree, 1)

    # Filling ---------------------------------------------------------------------------

    def set_library(self, sources: list[str], documents: list[DocumentRecord]) -> None:
        """Rebuild from the library (`LibraryStatus.sources` and `.documents`); files still
        waiting for indexing (or cancelled before it) keep their rows."""
        waiting = {
            path: state
            for path, item in self._files.items()
            if (state := item.data(STATUS, PATH_ROLE)) in _WAITING_TEXT
        }
        self.tree.clear()
        self._sources.clear()
        self._files.clear()
        for source in sorted(sources):
            self._source_item(source)
        for record in documents:
            self._update_file(
                record.path, FileStatus(record.status), record.reason, record.chunk_count
            )
        for path, state in waiting.items():
            if path not in self._files and owning_source(path, sources) is not None:
                self._set_waiting(self._file_row(path), state)
        self._refresh_sources()

    def mark_queued(self, paths: Iterable[str], status: str = "Queued") -> None:
        """Show folders and files as soon as they are dropped, before indexing reaches them."""
        for path in paths:
            if owning_source(path, self._sources) is None:
                self._source_item(path).setText(STATUS, status)
        self.hint.setVisible(not self._sources)

    def apply_outcomes(self, outcomes: list[FileOutcome | FilesFound]) -> None:
        """Update rows from `FileOutcome`s as indexing reports them; a `FilesFound` among
        them lists every file the indexing will reach, shown at once as queued."""
        for outcome in outcomes:
            if isinstance(outcome, FilesFound):
                for path in outcome.paths:
                    if path not in self._files:
                        self._set_waiting(self._file_row(path), QUEUED)
                continue
            self._update_file(
                outcome.path, FileStatus(outcome.status), outcome.reason, outcome.chunks
            )
        self._refresh_sources()

    def mark_in_progress(self, path: str) -> None:
        item = self._files.get(path)
        if item is not None and item.data(STATUS, PATH_ROLE) == QUEUED:
            self._set_waiting(item, IN_PROGRESS)

    def mark_cancelled(self) -> None:
        """Files the cancelled indexing did not finish are marked, and can be resumed."""
        for item in self._files.values():
            if item.data(STATUS, PATH_ROLE) in (QUEUED, IN_PROGRESS):
                self._set_waiting(item, NOT_INDEXED)
        self._refresh_sources()

    def forget(self, sources: list[str]) -> None:
        """Take removed sources and their files off the tree now (the library follows)."""
        for source in sources:
            item = self._sources.pop(source, None)
            if item is None:
                continue
            self._files = {
                p: i for p, i in self._files.items() if owning_source(p, [source]) is None
            }
            index = self.tree.indexOfTopLevelItem(item)
            if index >= 0:
                self.tree.takeTopLevelItem(index)
        self.tree.viewport().update()
        self._refresh_sources()

    def partial_sources(self) -> list[str]:
        waiting = [p for p, i in self._files.items() if i.data(STATUS, PATH_ROLE) == NOT_INDEXED]
        return sorted({owning_source(p, self._sources) or p for p in waiting})

    def counts(self) -> tuple[int, int]:
        """Indexed documents and their passages (failed, skipped and queued files are no
        documents of the library)."""
        indexed = [
            i for i in self._files.values() if i.data(STATUS, PATH_ROLE) == FileStatus.INDEXED
        ]
        return len(indexed), sum(int(i.text(PASSAGES) or 0) for i in indexed)

    def _set_waiting(self, item: QTreeWidgetItem, state: str) -> None:
        item.setText(STATUS, _WAITING_TEXT[state])
        item.setToolTip(STATUS, _WAITING_TEXT[state])
        item.setIcon(STATUS, QIcon())
        item.setText(PASSAGES, "")
        item.setData(STATUS, PATH_ROLE, state)

    def file_item(self, path: str) -> QTreeWidgetItem | None:
        return self._files.get(path)

    def source_paths(self) -> list[str]:
        return sorted(self._sources)

    def _source_item(self, path: str) -> QTreeWidgetItem:
        item = self._sources.get(path)
        if item is None:
            item = QTreeWidgetItem(
                self.tree, [os.path.basename(path.rstrip(os.sep)) or path, "", ""]
            )
            item.setData(NAME, PATH_ROLE, path)
            item.setToolTip(NAME, path)
            item.setIcon(NAME, self._icon(QStyle.StandardPixmap.SP_DirIcon))
            item.setExpanded(True)
            self._sources[path] = item
        return item

    def _file_row(self, path: str) -> QTreeWidgetItem:
        item = self._files.get(path)
        if item is None:
            owner = owning_source(path, self._sources) or os.path.dirname(path)
            source = self._source_item(owner)
            if owner == path:  # an added single file is its own row
                item = source
            else:
                item = QTreeWidgetItem(source, [os.path.relpath(path, owner), "", ""])
                item.setData(NAME, PATH_ROLE, path)
            self._files[path] = item
        return item

    def _update_file(self, path: str, status: FileStatus, reason: str | None, chunks: int) -> None:
        item = self._file_row(path)
        text = _STATUS_TEXT[status] + (f": {reason}" if reason else "")
        item.setText(STATUS, text)
        item.setIcon(STATUS, self._icon(_STATUS_ICON[status]))
        item.setToolTip(STATUS, text)
        item.setToolTip(NAME, path)
        item.setText(PASSAGES, str(chunks) if status == FileStatus.INDEXED else "")
        item.setData(STATUS, PATH_ROLE, status.value)
        item.setTextAlignment(PASSAGES, Qt.AlignmentFlag.AlignRight)

    def _refresh_sources(self) -> None:
        for path, item in self._sources.items():
            if path in self._files:
                continue  # a single file: its own status says it all
            children = [c for i in range(item.childCount()) if (c := item.child(i)) is not None]
            statuses = [child.data(STATUS, PATH_ROLE) for child in children]
            chunks = sum(int(child.text(PASSAGES) or 0) for child in children)
            item.setText(STATUS, _summary(statuses) if statuses else item.text(STATUS) or "Empty")
            item.setText(PASSAGES, str(chunks) if chunks else "")
            item.setTextAlignment(PASSAGES, Qt.AlignmentFlag.AlignRight)
        self.hint.setVisible(not self._sources)
        self.resume_button.setVisible(bool(self.partial_sources()))
        self._apply_filter()
        emit(self.counts_changed, *self.counts())

    def _icon(self, pixmap: QStyle.StandardPixmap) -> QIcon:
        return self.style().standardIcon(pixmap)

    # Slots -----------------------------------------------------------------------------

    def _selected_sources(self) -> list[str]:
        items = self.tree.selectedItems()
        return [str(i.data(NAME, PATH_ROLE)) for i in items if i.parent() is None]

    def _on_tree_item_selection_changed(self) -> None:
        # Only added folders and files can be removed: a file inside an added folder would
        # come back with the next re-scan of its folder.
        self.remove_button.setEnabled(bool(self._selected_sources()))

    def _apply_filter(self) -> None:
        only = self.problems_only.isChecked()
        problem = (FileStatus.FAILED, FileStatus.NO_TEXT)
        for item in self._files.values():
            item.setHidden(only and item.data(STATUS, PATH_ROLE) not in problem)
        for path, item in self._sources.items():
            if path in self._files:
                continue
            children = [c for i in range(item.childCount()) if (c := item.child(i)) is not None]
            item.setHidden(only and all(child.isHidden() for child in children))

    def _on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        path = str(item.data(NAME, PATH_ROLE))
        if path in self._files and os.path.isfile(path):
            emit(self.preview_requested, path)
        else:
            item.setExpanded(not item.isExpanded())

    def _on_resume_button_clicked(self) -> None:
        sources = self.partial_sources()
        if sources:
            emit(self.resume_requested, sources)

    def _on_remove_button_clicked(self) -> None:
        sources = self._selected_sources()
        if sources:
            emit(self.remove_requested, sources)

    def _on_tree_context_menu_requested(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        path = str(item.data(NAME, PATH_ROLE))
        menu = QMenu(self)
        menu.addAction("Ask about this", lambda: emit(self.scope_requested, path))
        if os.path.isfile(path):
            menu.addAction("Open in system app", lambda: emit(self.open_requested, path))
        if item.parent() is None:
            menu.addAction("Remove from library", lambda: emit(self.remove_requested, [path]))
        menu.popup(self.tree.viewport().mapToGlobal(pos))
