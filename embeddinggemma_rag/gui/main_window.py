"""The main window: library on the left, the conversation in the middle, a source on the right."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QMimeData, QRect, QSettings, Qt, QUrl
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
)
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from embeddinggemma_rag import APP_NAME
from embeddinggemma_rag.core.engine import config_dir
from embeddinggemma_rag.core.records import (
    IngestProgress,
    IngestReport,
    LibraryStatus,
    Manifest,
    ModelStatus,
    Settings,
)
from embeddinggemma_rag.gui import model_jobs
from embeddinggemma_rag.gui.chat_controller import ChatController
from embeddinggemma_rag.gui.chat_view import ChatView
from embeddinggemma_rag.gui.conversations_panel import ConversationsPanel
from embeddinggemma_rag.gui.engine_host import EMBEDDING, GENERATOR, EngineFactory, EngineHost
from embeddinggemma_rag.gui.engine_host import default_engine_factory as _default_factory
from embeddinggemma_rag.gui.errors import OPEN_MODELS, ErrorReporter
from embeddinggemma_rag.gui.ingest_bar import IngestBar, format_duration
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.library_panel import LibraryPanel, plural
from embeddinggemma_rag.gui.notice_bar import NoticeBar
from embeddinggemma_rag.gui.sources_view import SourceRef
from embeddinggemma_rag.gui.status_bar import AppStatusBar
from embeddinggemma_rag.gui.viewer import SourceViewer
from embeddinggemma_rag.gui.watcher import LibraryWatcher
from embeddinggemma_rag.gui.widgets import show_focus
from embeddinggemma_rag.gui.window_actions import WindowActions

GEOMETRY_FILE = "window.ini"
WAITING_FOR_MODEL = "Waiting for the search model"
MINIMUM_SIZE = (860, 540)
VIEWER_MIN_WIDTH, CHAT_MIN_WIDTH = 420, 320
# The library lends the viewer room down to this width when the conversation alone would be
# squeezed under CHAT_MIN_WIDTH (at 1280 px it wrapped "words/s" onto its own line).
LIBRARY_LEND_TO_WIDTH = 300
# What a window manager adds around the window (setGeometry places the inside of it).
TITLE_BAR, FRAME = 32, 8


def first_window_geometry(available: QRect) -> QRect:
    """A first window that fits the screen, question box included, centred on it."""
    width = min(1400, available.width() * 9 // 10)
    height = min(900, available.height() - TITLE_BAR - 2 * FRAME)
    outer_height = height + TITLE_BAR + 2 * FRAME
    left = available.x() + (available.width() - width) // 2
    top = available.y() + (available.height() - outer_height) // 2 + TITLE_BAR + FRAME
    return QRect(left, top, width, height)


def dropped_paths(mime: QMimeData) -> list[Path]:
    """Local files and folders from a drop (a file manager sends file:// URLs)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, engine_factory: EngineFactory = _default_factory):
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.host = EngineHost(settings, engine_factory, self)
        self.status = AppStatusBar(self)
        self.setStatusBar(self.status)
        self.errors = ErrorReporter(self, self.status)
        self.library_panel = LibraryPanel()
        self.ingest_bar = IngestBar()
        self.conversations_panel = ConversationsPanel()
        self.chat_view = ChatView()
        self.chat = ChatController(self.host, self.chat_view, self.errors)
        self.viewer = SourceViewer(self.host.read_document, read_page_boxes=self.host.page_boxes)
        self.viewer.hide()
        self.watcher = LibraryWatcher(self)
        self.missing_models: set[str] = set()
        self.model_notice = NoticeBar("Models missing")
        self._build_layout()
        self.actions_ = WindowActions(self)
        self.errors.actions[OPEN_MODELS] = self.actions_.open_setup
        self._connect()
        for view in (self.library_panel.tree, self.conversations_panel.list):
            show_focus(view)
        self._closing = False
        self._restore_geometry()

    def _build_layout(self) -> None:
        library = QWidget()
        column = QVBoxLayout(library)
        column.addWidget(self.library_panel, 1)
        column.addWidget(self.ingest_bar)
        self.tabs = QTabWidget()
        self.tabs.addTab(library, "&Library")
        self.tabs.addTab(self.conversations_panel, "C&onversations")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for widget in (self.tabs, self.chat_view, self.viewer):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(1, 1)
        self._lent_by_library = 0  # pixels the library gave the open viewer (open_source)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.model_notice)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _connect(self) -> None:
        host, panel = self.host, self.library_panel
        host.model_state_changed.connect(self.status.set_model_state)
        host.model_state_changed.connect(self._on_host_model_state_changed)
        host.generator_failed.connect(self._on_host_generator_failed)
        host.pending_changed.connect(self._update_model_notice)
        host.library_changed.connect(self._on_host_library_changed)
        self.model_notice.action_clicked.connect(self.actions_.open_setup)
        self.chat.models_needed.connect(self._update_model_notice)
        self.chat.documents_needed.connect(self._on_chat_documents_needed)
        host.status_changed.connect(self._on_host_status_changed)
        host.ingest_started.connect(self._on_host_ingest_started)
        host.ingest_finished.connect(self._on_host_ingest_finished)
        host.failed.connect(self.errors.report)
        panel.add_folder_clicked.connect(self.actions_.add_folder)
        panel.add_files_clicked.connect(self.actions_.add_files)
        panel.rescan_clicked.connect(host.rescan)
        panel.remove_requested.connect(self._on_library_panel_remove_requested)
        panel.resume_requested.connect(host.ingest)
        panel.counts_changed.connect(self.status.set_library_size)
        panel.scope_requested.connect(self.chat_view.set_scope)
        panel.open_requested.connect(self._on_library_panel_open_requested)
        panel.preview_requested.connect(self._on_library_panel_preview_requested)
        self.ingest_bar.cancel_clicked.connect(host.cancel_ingest)
        self.watcher.changed.connect(host.ingest)
        self.chat_view.source_activated.connect(self.open_source)
        self.chat.conversations_changed.connect(self.refresh_conversations)
        self.conversations_panel.new_clicked.connect(self.chat.new_conversation)
        self.conversations_panel.open_requested.connect(self.chat.open_conversation)
        self.conversations_panel.delete_requested.connect(
            self._on_conversations_panel_delete_requested
        )
        self.conversations_panel.export_requested.connect(self.actions_.export_conversation)
        self.conversations_panel.rename_requested.connect(self.actions_.rename_conversation)
        self.viewer.close_clicked.connect(self.close_viewer)
        self.viewer.failed.connect(self.errors.report)

    # Start-up --------------------------------------------------------------------------

    def start(self) -> None:
        """Check the models in the background; then load them, or show the setup screen."""
        latest = self.chat.store.list()[:1]
        if latest:  # where the user left off
            self.chat.open_conversation(latest[0].id)
        self.refresh_conversations()
        self.chat_view.question_box.setFocus()  # a newcomer can type a question at once
        job = model_jobs.check_models(self.host)
        job.succeeded.connect(self._on_check_job_succeeded)
        job.failed.connect(self._on_check_job_failed)

    def _on_check_job_succeeded(self, result: tuple[Manifest, list[ModelStatus]]) -> None:
        statuses = {status.kind: status for status in result[1]}
        self.missing_models = {kind for kind, status in statuses.items() if not status.ok}
        if statuses[EMBEDDING].ok:
            self.host.start(rescan=True)  # picks up what changed while the app was closed
        else:
            self.host.models_missing = True  # folders added now wait for it, kept
        for kind in self.missing_models:
            self.status.set_model_state(kind, "missing")
        self._update_model_notice()
        if not all(status.ok for status in statuses.values()):
            self.actions_.open_setup()

    def _on_host_library_changed(self) -> None:
        """Another library folder: its conversations are listed, and none of them is open."""
        self.chat.new_conversation()  # which lists them again

    def _on_host_model_state_changed(self, which: str, state: str) -> None:
        if state == "ready":
            self.missing_models.discard(which)
            self._update_model_notice()

    def _on_host_generator_failed(self, exc: BaseException) -> None:
        # A chat model that was there but does not load: say so now, not at the first answer.
        if GENERATOR not in self.missing_models:
            self.errors.report(exc, "load the chat model")

    def _update_model_notice(self) -> None:
        """Say what is missing, what waits for it, and offer the setup screen."""
        if EMBEDDING in self.missing_models:
            waiting = len(self.host.pending_paths)
            text = "No search model yet: questions and indexing need it."
            if waiting:
                things = "folder or file" if waiting == 1 else "folders and files"
                text += f" {waiting} {things} will be indexed once it is set up."
            self.model_notice.show_notice(text, OPEN_MODELS)
            self.chat_view.question_box.setPlaceholderText(
                f"Set up the search model first ({OPEN_MODELS}), then ask about your documents"
            )
        elif GENERATOR in self.missing_models:
            self.model_notice.show_notice(
                "No chat model yet: search and indexing work, answers need it.", OPEN_MODELS
            )
            self.chat_view.question_box.setPlaceholderText(self.chat_view.question_box.HINT)
        else:
            self.model_notice.hide()
            self.chat_view.question_box.setPlaceholderText(self.chat_view.question_box.HINT)

    def _on_chat_documents_needed(self) -> None:
        self.tabs.setCurrentIndex(0)  # the library, with its Add folder… and Add files…
        self.library_panel.add_folder_button.setFocus()

    def _on_check_job_failed(self, exc: BaseException) -> None:
        self.errors.report(exc, "check the models")
        self.host.start(rescan=True)

    # Library ---------------------------------------------------------------------------

    def add_paths(self, paths_: list[Path]) -> None:
        if paths_:
            status = WAITING_FOR_MODEL if self.host.models_missing else "Queued"
            self.library_panel.mark_queued((str(p.absolute()) for p in paths_), status)
            self.host.ingest([p.absolute() for p in paths_])

    def _on_host_status_changed(self, status: LibraryStatus) -> None:
        self.library_panel.set_library(status.sources, status.documents)  # counts follow
        self.chat_view.set_scope_choices(status.sources)
        self.watcher.watch(status.sources, [d.path for d in status.documents])

    def _on_host_ingest_started(self, job: Job) -> None:
        self.ingest_bar.follow(job)
        job.items.connect(self.library_panel.apply_outcomes)
        job.progressed.connect(self._on_ingest_job_progressed)

    def _on_ingest_job_progressed(self, progress: IngestProgress) -> None:
        self.library_panel.mark_in_progress(progress.current_file)

    def _on_host_ingest_finished(self, report: IngestReport | None) -> None:
        if report is None:
            self.library_panel.mark_cancelled()  # failed part-way: what is left can resume
            return
        if report.cancelled:
            self.library_panel.mark_cancelled()
            self.errors.note("Indexing cancelled; what was indexed is kept, Resume goes on")
            return
        counts = report.by_status()
        problems = counts["failed"] + counts["no_text"]
        files = plural(len(report.outcomes), "file")
        if report.chunks_embedded == 0 and not report.removed:
            text = f"Up to date: {files} checked, nothing new to index"
        else:
            text = (
                f"Indexed {files}: {plural(report.chunks_embedded, 'passage')} embedded "
                f"in {format_duration(report.seconds)}"
            )
            if report.removed:
                text += f"; {plural(len(report.removed), 'file')} gone from disk forgotten"
        if problems:
            text += f"; {problems:,} with problems (see the library)"
        self.errors.note(text)

    def _on_library_panel_remove_requested(self, sources: list[str]) -> None:
        names = ", ".join(Path(s).name or s for s in sources)
        if not self.actions_.confirm(
            "Remove from the library",
            f"Remove {names} from the library? The files stay on disk; their passages are "
            "forgotten, and adding them again indexes them again.",
        ):
            return
        self.library_panel.forget(sources)  # at once, not when the library is read again
        self.host.remove(sources)

    def _on_conversations_panel_delete_requested(self, conversation_id: int) -> None:
        if self.actions_.confirm(
            "Delete the conversation",
            "Delete this conversation and its answers? This cannot be undone; Export keeps "
            "a copy first.",
        ):
            self.chat.delete_conversation(conversation_id)

    def _on_library_panel_preview_requested(self, path: str) -> None:
        self.open_source(SourceRef.preview(path))

    def _on_library_panel_open_requested(self, path: str) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    # Chat ------------------------------------------------------------------------------

    def open_source(self, source: SourceRef) -> None:
        if self.viewer.isVisible():
            self.viewer.open_source(source)
            return
        # The room comes from the conversation, and from the library only as far as the
        # conversation would otherwise fall under its minimum (a narrow window).
        library, chat, _ = self.splitter.sizes()
        self.viewer.show()
        self.viewer.open_source(source)  # first: its title bar sets how narrow it can be
        viewer = max(
            chat * 11 // 20,
            min(VIEWER_MIN_WIDTH, chat - CHAT_MIN_WIDTH),
            self.viewer.minimumSizeHint().width(),
        )
        lent = min(CHAT_MIN_WIDTH - (chat - viewer), library - LIBRARY_LEND_TO_WIDTH)
        self._lent_by_library = max(0, lent)
        library -= self._lent_by_library
        self.splitter.setSizes([library, chat + self._lent_by_library - viewer, viewer])

    def close_viewer(self) -> None:
        """Hide the viewer and give its room back: what the library lent, the rest to the
        conversation."""
        if self.viewer.isVisible():
            library, chat, viewer = self.splitter.sizes()
            lent, self._lent_by_library = self._lent_by_library, 0
            self.viewer.hide()
            self.splitter.setSizes([library + lent, chat + viewer - lent, 0])

    def refresh_conversations(self) -> None:
        self.conversations_panel.set_conversations(
            self.chat.store.list(), self.chat.conversation_id
        )

    # Drops anywhere on the window ------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        found = dropped_paths(event.mimeData())
        if found:
            event.acceptProposedAction()
            self.add_paths(found)

    # Shutdown --------------------------------------------------------------------------

    def _geometry_store(self) -> QSettings:
        # An INI file in the app's config folder, not the registry or ~/.config/<org>: one
        # place for everything the app keeps, and tests isolate it with the rest.
        return QSettings(str(config_dir() / GEOMETRY_FILE), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        store = self._geometry_store()
        geometry, state = store.value("geometry"), store.value("splitter")
        available = self.screen().availableGeometry()
        first = first_window_geometry(available)
        self.setMinimumSize(
            min(MINIMUM_SIZE[0], first.width()), min(MINIMUM_SIZE[1], first.height())
        )
        if geometry is None or not self.restoreGeometry(geometry):
            self.setGeometry(first)
        elif not available.contains(self.geometry()):
            self.setGeometry(first)  # saved on a bigger screen
        width = self.geometry().width()
        if state is None or not self.splitter.restoreState(state):
            self.splitter.setSizes([width * 9 // 25, width * 16 // 25, 0])

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel the answer and the indexing, wait for the workers, keep what was saved."""
        if not self._closing:
            self._closing = True
            self.close_viewer()  # its squeezed split is not the next start's
            store = self._geometry_store()
            store.setValue("geometry", self.saveGeometry())
            store.setValue("splitter", self.splitter.saveState())
            store.sync()
            self.hide()
            self.chat.stop()
            self.host.stop_jobs()
            # Deliver the stopped jobs' last signals now: a stopped answer is saved with the
            # text it had, before the engine closes its conversations.
            QCoreApplication.sendPostedEvents()
            self.host.close()
        event.accept()
