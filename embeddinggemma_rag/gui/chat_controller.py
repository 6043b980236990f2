"""The conversation being held: asks through the engine host, streams, saves every turn."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from embeddinggemma_rag.core.engine import ConversationStore
from embeddinggemma_rag.core.records import Answer, SavedTurn, Turn
from embeddinggemma_rag.gui.chat_view import ChatView
from embeddinggemma_rag.gui.engine_host import EngineHost
from embeddinggemma_rag.gui.errors import RETRY, ErrorReporter, describe
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.transcript import ChatEntry

STOPPED = "Stopped before the end."
NO_SEARCH_MODEL = (
    "No answer: the search model is not set up yet, and questions need it. Use Open Models… "
    "to download it or choose its files; the question stays in the box."
)

EMPTY_LIBRARY = (
    "No answer: your library is empty. Add folders or files (Add folder…, Ctrl+O, or drop "
    "them on the window), then ask again; the question stays in the box."
)


class ChatController(QObject):
    """Owns the current conversation; the view only shows it."""

    conversations_changed = Signal()
    answer_finished = Signal(object)  # the Answer shown (tests and screenshots wait for it)
    models_needed = Signal()  # a question came while the search model is missing
    documents_needed = Signal()  # a question came while the library is empty

    def __init__(self, host: EngineHost, view: ChatView, errors: ErrorReporter) -> None:
        super().__init__(view)
        self.host, self.view, self.errors = host, view, errors
        self.conversation_id: int | None = None
        self.job: Job | None = None
        errors.actions[RETRY] = self.retry
        view.ask_requested.connect(self.ask)
        view.regenerate_requested.connect(self.ask)
        view.stop_requested.connect(self.stop)

    @property
    def store(self) -> ConversationStore:
        """The engine's conversations (of the library the settings name now)."""
        return self.host.conversations

    # Asking ----------------------------------------------------------------------------

    def ask(self, question: str, scope: str | None = None) -> None:
        if self.job is not None:
            return
        # Follow-ups carry the earlier turns; stopped answers with no text add nothing.
        history = [
            Turn(e.question, e.answer.text)
            for e in self.view.entries
            if e.answer is not None and e.answer.text.strip()
        ]
        self.view.begin_answer(question, scope)
        if self.host.models_missing:
            # Searching needs the search model: say so now instead of waiting for it.
            self.view.finish_answer(None, NO_SEARCH_MODEL)
            self.view.question_box.setPlainText(question)  # ready to ask once it is set up
            emit(self.models_needed)
            return
        if self.host.library_empty and self.host.ingest_job is None:
            # (While indexing, the count read before it is stale: the engine answers then.)
            self.view.finish_answer(None, EMPTY_LIBRARY)
            self.view.question_box.setPlainText(question)
            emit(self.documents_needed)
            return
        job = self.host.ask(question, history, Path(scope) if scope else None)
        job.tokens.connect(self.view.append_tokens)
        job.succeeded.connect(self._on_job_succeeded)
        job.cancelled.connect(self._on_job_cancelled)
        job.failed.connect(self._on_job_failed)
        self.job = job

    def retry(self) -> None:
        """Ask the question whose answer failed once more, in the same scope."""
        entries = self.view.entries
        if self.job is not None or not entries or entries[-1].answer is not None:
            return
        question, scope = entries[-1].question, entries[-1].scope
        if self.view.question_box.toPlainText().strip() == question:
            self.view.question_box.clear()  # it was put back for asking again: now it is
        self.ask(question, scope)

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_job_succeeded(self, answer: Answer) -> None:
        self._finish(answer, STOPPED if answer.cancelled else "")

    def _on_job_cancelled(self) -> None:
        entry = self.view.entries[-1]
        self._finish(Answer(entry.question, entry.partial.strip(), cancelled=True), STOPPED)

    def _on_job_failed(self, exc: BaseException) -> None:
        self.job = None
        entry = self.view.entries[-1]
        self.view.finish_answer(None, f"No answer: {describe(exc, '').message}")
        if not self.view.question_box.toPlainText().strip():
            self.view.question_box.setPlainText(entry.question)  # ready to ask again
        self.errors.report(exc, "answer the question")

    def _finish(self, answer: Answer, note: str) -> None:
        self.job = None
        self.view.finish_answer(answer, note)
        entry = self.view.entries[-1]
        try:
            if self.conversation_id is None:
                self.conversation_id = self.store.create(entry.question)
            self.store.add_turn(
                self.conversation_id, SavedTurn(entry.question, answer, entry.scope)
            )
        except Exception as exc:  # the answer stays on screen; only saving failed
            self.errors.report(exc, "save the conversation")
        emit(self.conversations_changed)
        emit(self.answer_finished, answer)

    # Conversations ---------------------------------------------------------------------

    def new_conversation(self) -> None:
        self.stop()
        self.conversation_id = None
        self.view.show_entries([])
        self.view.clear_scope()  # a new conversation asks the whole library again
        self.view.question_box.setFocus()
        emit(self.conversations_changed)

    def open_conversation(self, conversation_id: int) -> None:
        if self.job is not None or conversation_id == self.conversation_id:
            return
        try:
            conversation = self.store.load(conversation_id)
        except Exception as exc:
            self.errors.report(exc, "open the conversation")
            return
        self.conversation_id = conversation_id
        self.view.show_entries(
            [
                ChatEntry(t.question, t.scope, t.answer, note=STOPPED if t.answer.cancelled else "")
                for t in conversation.turns
            ]
        )

    def delete_conversation(self, conversation_id: int) -> None:
        self.store.delete(conversation_id)
        if conversation_id == self.conversation_id:
            self.new_conversation()
        emit(self.conversations_changed)

    def export(self, conversation_id: int, path: Path) -> None:
        self.store.export(conversation_id, path)
