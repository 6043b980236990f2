"""A source at its passage: PDFs in Qt PDF at the page, other files as text, both highlighted."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.documents import PAGE_SEPARATOR, TextBox
from embeddinggemma_rag.core.page_store import boxes_for_passage
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.ocr_page_view import OcrPageView, page_image
from embeddinggemma_rag.gui.passage_match import locate, passage_range, utf16_offset
from embeddinggemma_rag.gui.sources_view import SourceRef, source_label
from embeddinggemma_rag.gui.text_views import mark_format
from embeddinggemma_rag.gui.widgets import button, pass_drops_to_window, plain_label

HIGHLIGHT_CHARS = 600  # Qt PDF searches for the passage text: keep the search string short


class SourceViewer(QWidget):
    """Shows one source at a time; `read_document(path, then)` starts a job that extracts the
    text and returns `then(text)`."""

    close_clicked = Signal()
    shown = Signal(object)  # SourceRef, once it is on screen (tests wait for it)
    failed = Signal(object, str)  # exception, what was being done

    def __init__(
        self,
        read_document: Callable[[str, Callable[[str], Any]], Job],
        parent: QWidget | None = None,
        read_page_boxes: Callable[[str, int], list[TextBox]] | None = None,
    ):
        super().__init__(parent)
        self._read_document = read_document
        # OCR'd pages: the stored line boxes of (path, page), to highlight on the page image.
        self._read_page_boxes = read_page_boxes
        self._source: SourceRef | None = None
        self._target_page = 0
        self._text_job: Job | None = None
        self.title = plain_label(name="Source", wrap=False)
        self.detail = plain_label(name="About the passage")
        self.open_button = button("Open in system app", self._on_open_button_clicked)
        self.close_button = button("Close", self.close_clicked, "Close source viewer")
        self.pdf_document = QPdfDocument(self)
        self.search_model = QPdfSearchModel(self)
        self.search_model.setDocument(self.pdf_document)
        self.search_model.countChanged.connect(self._on_search_model_count_changed)
        self.pdf_view = QPdfView()
        self.pdf_view.setAccessibleName("PDF page")
        self.pdf_view.setDocument(self.pdf_document)
        self.pdf_view.setSearchModel(self.search_model)
        self.pdf_view.setPageMode(QPdfView.PageMode.MultiPage)
        self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.text_view = QPlainTextEdit()
        self.text_view.setAccessibleName("Document text")
        self.text_view.setReadOnly(True)
        pass_drops_to_window(self.text_view)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.pdf_view)
        self.stack.addWidget(self.text_view)
        self.ocr_view = OcrPageView()
        self.stack.addWidget(self.ocr_view)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.open_button)
        header.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.detail)
        layout.addWidget(self.stack, 1)

    @property
    def source(self) -> SourceRef | None:
        return self._source

    def open_source(self, source: SourceRef) -> None:
        self._source = source
        self.title.setText(source_label(source))
        self.title.setToolTip(source.path)
        self.detail.clear()
        if self._text_job is not None:
            self._text_job.cancel()
            self._text_job = None
        if source.ocr and source.page and self._read_page_boxes is not None:
            self._open_ocr_page(source, source.page, self._read_page_boxes)
        elif source.path.lower().endswith(".pdf"):
            self._open_pdf(source)
        else:
            self._open_text(source)

    # PDF -------------------------------------------------------------------------------

    def _open_pdf(self, source: SourceRef) -> None:
        self.stack.setCurrentWidget(self.pdf_view)
        self.search_model.setSearchString("")
        self.pdf_document.close()
        error = self.pdf_document.load(source.path)
        if error != QPdfDocument.Error.None_:
            self.detail.setText(f"Qt PDF cannot open this file ({error.name}); try the system app.")
            return
        self._target_page = max(0, min((source.page or 1) - 1, self.pdf_document.pageCount() - 1))
        self.pdf_view.pageNavigator().jump(self._target_page, QPointF(), 0)
        page_text = self.pdf_document.getAllText(self._target_page).text()
        found = locate(page_text, source.text)
        if found is None:
            self.detail.setText("The passage could not be found on this page; it may have changed.")
        else:
            # Qt PDF's own page text, so the search matches exactly (line breaks included).
            start, end = found
            self.search_model.setSearchString(page_text[start : min(end, start + HIGHLIGHT_CHARS)])
        self.shown.emit(source)

    def _open_ocr_page(
        self, source: SourceRef, page: int, read_boxes: Callable[[str, int], list[TextBox]]
    ) -> None:
        """A scan has no text for Qt PDF to search: its page image is shown instead, with the
        boxes OCR gave the passage's lines."""
        pdf = None
        if source.path.lower().endswith(".pdf"):
            self.pdf_document.close()
            if self.pdf_document.load(source.path) == QPdfDocument.Error.None_:
                pdf = self.pdf_document
        boxes = boxes_for_passage(read_boxes(source.path, page), source.char_start, source.char_end)
        self.ocr_view.show_page(page_image(source.path, page, pdf), boxes)
        self.stack.setCurrentWidget(self.ocr_view)
        if not boxes:
            self.detail.setText("The passage's lines could not be found on this page.")
        self.shown.emit(source)

    def _on_search_model_count_changed(self) -> None:
        for index in range(self.search_model.count()):
            if self.search_model.resultAtIndex(index).page() == self._target_page:
                if self.pdf_view.currentSearchResultIndex() != index:
                    self.pdf_view.setCurrentSearchResultIndex(index)  # highlights and scrolls
                return

    def current_page(self) -> int:
        """1-based, as citations count pages."""
        return self.pdf_view.pageNavigator().currentPage() + 1

    # Text ------------------------------------------------------------------------------

    def _open_text(self, source: SourceRef) -> None:
        self.stack.setCurrentWidget(self.text_view)
        self.text_view.setPlainText("Reading the document…")
        self.text_view.setExtraSelections([])

        def find(text: str) -> tuple[str, int, int]:  # runs on the worker
            start, end = passage_range(text, source.text, source.char_start, source.char_end)
            return text, utf16_offset(text, start), utf16_offset(text, end)

        job = self._read_document(source.path, find)
        job.succeeded.connect(self._on_text_job_succeeded)
        job.failed.connect(self._on_text_job_failed)
        self._text_job = job

    def _on_text_job_succeeded(self, found: tuple[str, int, int]) -> None:
        if self.sender() is not self._text_job or self._source is None:
            return
        self._text_job = None
        text, start, end = found
        # A page break becomes a line break of the same length, so offsets still hold.
        self.text_view.setPlainText(text.replace(PAGE_SEPARATOR, "\n"))
        if start == end:
            self.detail.setText("The passage is no longer in this file; it may have changed.")
        else:
            self._highlight(start, end)
        self.shown.emit(self._source)

    def _highlight(self, start: int, end: int) -> None:
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor  # type: ignore[attr-defined]
        selection.format = mark_format(self.palette())  # type: ignore[attr-defined]
        self.text_view.setExtraSelections([selection])
        caret = QTextCursor(self.text_view.document())
        caret.setPosition(end)
        self.text_view.setTextCursor(caret)
        self.text_view.ensureCursorVisible()
        caret.setPosition(start)
        self.text_view.setTextCursor(caret)  # the end, then the start: the passage fills the view
        self.text_view.centerCursor()

    def highlighted_text(self) -> str:
        selections = self.text_view.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    def _on_text_job_failed(self, exc: BaseException) -> None:
        if self.sender() is self._text_job:
            self._text_job = None
            self.text_view.setPlainText("")
            self.failed.emit(
                exc, f"show {os.path.basename(self._source.path if self._source else '')}"
            )

    def _on_open_button_clicked(self) -> None:
        if self._source is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._source.path))
