"""The window's menus and shortcuts, and the dialogs they open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from embeddinggemma_rag import APP_NAME, __version__
from embeddinggemma_rag.core.engine import export_file_name, save_settings_changes
from embeddinggemma_rag.core.records import Settings
from embeddinggemma_rag.gui.settings_dialog import SettingsDialog
from embeddinggemma_rag.gui.setup_dialog import SetupDialog

if TYPE_CHECKING:
    from embeddinggemma_rag.gui.main_window import MainWindow


class WindowActions:
    """Builds the menu bar of `window` and carries out what its entries ask."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.setup_dialog: SetupDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        chat = window.chat
        menu = window.menuBar().addMenu("&File")
        self._add(menu, "Add &folder…", "Ctrl+O", self.add_folder)
        self._add(menu, "Add f&iles…", "Ctrl+Shift+O", self.add_files)
        self._add(menu, "&Re-scan the library", "F5", window.host.rescan)
        menu.addSeparator()
        self._add(menu, "&Models…", None, self.open_setup)
        self.settings_action = self._add(menu, "&Settings…", "Ctrl+,", self.open_settings)
        menu.addSeparator()
        self._add(menu, "&Quit", QKeySequence.StandardKey.Quit, window.close)
        menu = window.menuBar().addMenu("&Conversation")
        self._add(menu, "&New conversation", "Ctrl+N", chat.new_conversation)
        self._add(menu, "&Ask a question", "Ctrl+L", window.chat_view.question_box.setFocus)
        self._add(menu, "&Find…", QKeySequence.StandardKey.Find, self.find)
        self.stop = self._add(menu, "&Stop the answer", "Esc", self.stop_or_close_viewer)
        self._add(menu, "&Export to Markdown…", "Ctrl+E", self.export_current)
        menu = window.menuBar().addMenu("&Help")
        self._add(menu, f"&About {APP_NAME}", None, self.about)

    def _add(self, menu: object, text: str, shortcut: object, slot: object) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        action.triggered.connect(slot)
        menu.addAction(action)  # type: ignore[attr-defined]
        return action

    # Library ---------------------------------------------------------------------------

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder to the library")
        if folder:
            self.window.add_paths([Path(folder)])

    def add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Add files to the library")
        self.window.add_paths([Path(f) for f in files])

    # Chat ------------------------------------------------------------------------------

    def stop_or_close_viewer(self) -> None:
        if self.window.chat.job is not None:
            self.window.chat.stop()
        elif self.window.viewer.isVisible():
            self.window.close_viewer()

    def find(self) -> None:
        """Find in the source viewer when it is open and not left for the chat, else in the
        conversation."""
        viewer, chat = self.window.viewer, self.window.chat_view
        focus = self.window.focusWidget()
        in_chat = focus is not None and chat.isAncestorOf(focus)
        field = viewer.bar.find_box if viewer.isVisible() and not in_chat else chat.find_box
        field.setFocus()
        field.selectAll()

    def export_current(self) -> None:
        selected = self.window.conversations_panel.selected_id()
        current = self.window.chat.conversation_id or selected
        if current is None:
            self.window.errors.note("Nothing to export yet: ask a question first")
            return
        self.export_conversation(current)

    def export_conversation(self, conversation_id: int) -> None:
        title = next(
            (c.title for c in self.window.chat.store.list() if c.id == conversation_id), ""
        )
        target, _ = QFileDialog.getSaveFileName(
            self.window, "Export the conversation", export_file_name(title), "Markdown (*.md)"
        )
        if not target:
            return
        try:
            self.window.chat.export(conversation_id, Path(target))
        except Exception as exc:
            self.window.errors.report(exc, "export the conversation")
            return
        self.window.errors.note(f"Exported to {target}")

    # Models and settings ---------------------------------------------------------------

    def open_setup(self) -> None:
        if self.setup_dialog is not None and self.setup_dialog.isVisible():
            return
        dialog = SetupDialog(self.window.host, self.window.errors, self.window)
        dialog.downloading.connect(self.window.status.set_downloading)
        dialog.accepted.connect(self._on_setup_dialog_accepted)
        self.setup_dialog = dialog
        dialog.open()  # window-modal without a nested event loop

    def _on_setup_dialog_accepted(self) -> None:
        self.window.host.reload(self.window.host.settings, rescan=True)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.window.host.settings, self.window)
        dialog.accepted.connect(self._on_settings_dialog_accepted)
        self.settings_dialog = dialog
        dialog.open()

    def _on_settings_dialog_accepted(self) -> None:
        assert self.settings_dialog is not None
        old, new = self.window.host.settings, self.settings_dialog.result_settings
        if new is None or new == old:
            return
        if new.dimension != old.dimension and not self.confirm(
            "Change the dimension",
            f"Rebuild the index with {new.dimension}-dimensional vectors now? The stored "
            "vectors are reused, so nothing is embedded again.",
        ):
            new = new.replace(dimension=old.dimension)
        chunking = (new.chunk_tokens, new.chunk_overlap_tokens)
        reindex = chunking != (old.chunk_tokens, old.chunk_overlap_tokens) and self.confirm(
            "Re-index the library",
            "Chunks of the new size only apply to files indexed from now on. Read and embed "
            "every document again now? This takes as long as the first indexing.",
        )
        try:
            save_settings_changes(old, new)
        except Exception as exc:
            self.window.errors.report(exc, "save the settings")
        self.apply_settings(new, reindex)

    def apply_settings(self, settings: Settings, reindex: bool = False) -> None:
        self.window.host.reload(settings, rescan=False)
        if reindex:
            self.window.host.reindex()

    def rename_conversation(self, conversation_id: int) -> None:
        current = next(
            (c.title for c in self.window.chat.store.list() if c.id == conversation_id), ""
        )
        title = self.ask_text("Rename the conversation", "Name:", current)
        if title and title.strip() and title != current:
            self.window.chat.store.rename(conversation_id, title.strip())
            self.window.refresh_conversations()

    def ask_text(self, title: str, label: str, text: str) -> str | None:
        answer, ok = QInputDialog.getText(self.window, title, label, text=text)
        return answer if ok else None

    def confirm(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self.window, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def about(self) -> None:
        QMessageBox.about(
            self.window,
            f"About {APP_NAME}",
            f"{APP_NAME} {__version__}\n\nAsk questions about your own documents, answered "
            "from cited passages. Everything runs on this computer; only a model download you "
            "start uses the network.",
        )
