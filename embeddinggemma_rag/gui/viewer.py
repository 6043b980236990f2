"""A source at its passage: PDFs in Qt PDF at the page, other files as text, both highlighted."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor, QTextDocument
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

from embeddinggemma_rag.core.engine import boxes_for_passage
from embeddinggemma_rag.core.records import PAGE_SEPARATOR, TextBox
from embeddinggemma_rag.gui.jobs import Job
from embeddinggemma_rag.gui.ocr_page_view import OcrPageView, page_image
from embeddinggemma_rag.gui.passage_match import locate, passage_range, utf16_offset
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.sources_view import SourceRef, source_label
from embeddinggemma_rag.gui.text_views import mark_format
from embeddinggemma_rag.gui.viewer_bar import FIT_WIDTH, ViewerBar
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
        read_document: Callable[[str, Callable[[str], object]], Job],
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
        # The passage (page, rectangle in points) kept centred until the user scrolls: the
        # view's size settles after it opens (the splitter makes room), which moves pages.
        self._passage: tuple[int, QRectF] | None = None
        self._follow = False
        self._passage_search = ""
        self._finding = False
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
        self.pdf_view.viewport().installEventFilter(self)
        self.pdf_view.verticalScrollBar().actionTriggered.connect(self._on_user_scrolled)
        self.pdf_view.horizontalScrollBar().actionTriggered.connect(self._on_user_scrolled)
        self.pdf_view.pageNavigator().currentPageChanged.connect(self._show_page_number)
        self.bar = ViewerBar()
        self.bar.page_step.connect(self._on_bar_page_step)
        self.bar.zoom_chosen.connect(self._on_bar_zoom_chosen)
        self.bar.find_requested.connect(self._on_bar_find_requested)
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
        layout.addWidget(self.bar)
        layout.addWidget(self.stack, 1)

    @property
    def source(self) -> SourceRef | None:
        return self._source

    def open_source(self, source: SourceRef) -> None:
        self._source = source
        self.title.setText(source_label(source))
        hit = source.hit
        self.title.setToolTip(hit.path)
        self.detail.clear()
        self.bar.find_box.clear()
        self.bar.find_state.clear()
        self._passage, self._follow, self._finding = None, False, False
        if self._text_job is not None:
            self._text_job.cancel()
            self._text_job = None
        if hit.ocr and hit.page and self._read_page_boxes is not None:
            self._open_ocr_page(source, hit.page, self._read_page_boxes)
        elif hit.path.lower().endswith(".pdf"):
            self._open_pdf(source)
        else:
            self._open_text(source)

    # PDF -------------------------------------------------------------------------------

    def _open_pdf(self, source: SourceRef) -> None:
        hit = source.hit
        self.stack.setCurrentWidget(self.pdf_view)
        self._passage_search = ""
        self.search_model.setSearchString("")
        self.pdf_document.close()
        error = self.pdf_document.load(hit.path)
        if error != QPdfDocument.Error.None_:
            self.detail.setText(f"Qt PDF cannot open this file ({error.name}); try the system app.")
            self.bar.set_pages(None, None)
            return
        self._target_page = max(0, min((hit.page or 1) - 1, self.pdf_document.pageCount() - 1))
        self.pdf_view.pageNavigator().jump(self._target_page, QPointF(), 0)
        # Followed from now on: the page top until the passage's rectangle is known.
        self._passage, self._follow = (self._target_page, QRectF()), True
        self._show_page_number()
        page_text = self.pdf_document.getAllText(self._target_page).text()
        found = locate(page_text, hit.text)
        if not hit.text.strip():
            pass  # a preview from the library: no passage to find
        elif found is None:
            self.detail.setText("The passage could not be found on this page; it may have changed.")
        else:
            # Qt PDF's own page text, so the search matches exactly (line breaks included).
            start, end = found
            self._passage_search = page_text[start : min(end, start + HIGHLIGHT_CHARS)]
            self.search_model.setSearchString(self._passage_search)
        emit(self.shown, source)

    def _open_ocr_page(
        self, source: SourceRef, page: int, read_boxes: Callable[[str, int], list[TextBox]]
    ) -> None:
        """A scan has no text for Qt PDF to search: its page image is shown instead, with the
        boxes OCR gave the passage's lines."""
        hit, pdf = source.hit, None
        if hit.path.lower().endswith(".pdf"):
            self.pdf_document.close()
            if self.pdf_document.load(hit.path) == QPdfDocument.Error.None_:
                pdf = self.pdf_document
        boxes = boxes_for_passage(read_boxes(hit.path, page), hit.char_start, hit.char_end)
        self.ocr_view.show_page(page_image(hit.path, page, pdf), boxes)
        self.stack.setCurrentWidget(self.ocr_view)
        if not boxes:
            self.detail.setText("The passage's lines could not be found on this page.")
        emit(self.shown, source)

    def _on_search_model_count_changed(self) -> None:
        if self._finding:
            if self.pdf_view.currentSearchResultIndex() < 0:
                self._find_in_pdf(backwards=False)
            return
        for index in range(self.search_model.count()):
            result = self.search_model.resultAtIndex(index)
            if result.page() == self._target_page:
                if self.pdf_view.currentSearchResultIndex() != index:
                    self.pdf_view.setCurrentSearchResultIndex(index)  # outlined in the view
                    self._passage = (result.page(), _union(result.rectangles()))
                    self._follow = True
                    self._centre_passage()
                return

    def _centre_passage(self) -> None:
        """Scroll so the passage sits in the middle of the view (Qt PDF only shows its page)."""
        if self._passage is None or self.stack.currentWidget() is not self.pdf_view:
            return
        page, rect = self._passage
        view = self.pdf_view
        # Jumping to a page scrolls its top edge to the top: that gives the page's position
        # in the scrolled area, in pixels; the passage lies at its points times the scale.
        view.pageNavigator().jump(page, QPointF(), 0)
        top = view.verticalScrollBar().value()
        if rect.isEmpty():
            view.verticalScrollBar().setValue(top)
            return
        scale = self._page_scale(page)
        centre = rect.center() * scale
        viewport = view.viewport().size()
        view.verticalScrollBar().setValue(round(top + centre.y() - viewport.height() / 2))
        left = view.documentMargins().left()
        view.horizontalScrollBar().setValue(round(left + centre.x() - viewport.width() / 2))

    def _page_scale(self, page: int) -> float:
        """Pixels per PDF point on `page`, as QPdfView lays it out."""
        view, size = self.pdf_view, self.pdf_document.pagePointSize(page)
        margins = view.documentMargins()
        width = view.viewport().width() - margins.left() - margins.right()
        height = view.viewport().height() - margins.top() - margins.bottom()
        if view.zoomMode() == QPdfView.ZoomMode.FitToWidth:
            return float(width / size.width())
        if view.zoomMode() == QPdfView.ZoomMode.FitInView:
            return float(min(width / size.width(), height / size.height()))
        return float(view.zoomFactor() * view.logicalDpiY() / 72)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self._follow:
            QTimer.singleShot(0, self, self._centre_passage)  # after QPdfView laid the pages out
        return super().eventFilter(watched, event)

    def _on_user_scrolled(self, _action: int) -> None:
        self._follow = False  # the user moved: stop pulling the view back to the passage
        self._show_page_number()

    def _show_page_number(self) -> None:
        if self.stack.currentWidget() is self.pdf_view:
            self.bar.set_pages(self.current_page(), self.pdf_document.pageCount())

    def _on_bar_page_step(self, step: int) -> None:
        page = self.current_page() - 1 + step
        if 0 <= page < self.pdf_document.pageCount():
            self._follow = False
            self.pdf_view.pageNavigator().jump(page, QPointF(), 0)

    def _on_bar_zoom_chosen(self, factor: float) -> None:
        if factor == FIT_WIDTH:
            self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        else:
            self.pdf_view.setZoomMode(QPdfView.ZoomMode.Custom)
            self.pdf_view.setZoomFactor(factor)
        QTimer.singleShot(0, self, self._centre_passage)  # the passage stays where the eye is

    def _on_bar_find_requested(self, text: str, backwards: bool) -> None:
        if self.stack.currentWidget() is self.text_view:
            self._find_in_text(text, backwards)
        elif not text:  # an empty search brings the passage back
            self._finding = False
            self.bar.find_state.clear()
            self.pdf_view.setCurrentSearchResultIndex(-1)
            self.search_model.setSearchString(self._passage_search)
        elif text != self.search_model.searchString():
            self._finding, self._follow = True, False
            self.pdf_view.setCurrentSearchResultIndex(-1)
            self.search_model.setSearchString(text)  # results arrive in countChanged
        else:
            self._find_in_pdf(backwards)

    def _find_in_pdf(self, backwards: bool) -> None:
        count = self.search_model.count()
        if count == 0:
            self.bar.find_state.setText("Not found")
            return
        current = self.pdf_view.currentSearchResultIndex()
        if current < 0:  # the first match at or after the page on screen
            page = self.pdf_view.pageNavigator().currentPage()
            pages = [self.search_model.resultAtIndex(i).page() for i in range(count)]
            index = next((i for i, p in enumerate(pages) if p >= page), 0)
        else:
            index = (current + (-1 if backwards else 1)) % count
        result = self.search_model.resultAtIndex(index)
        self.pdf_view.setCurrentSearchResultIndex(index)
        self._passage = (result.page(), _union(result.rectangles()))
        self._centre_passage()
        self.bar.find_state.setText(f"{index + 1} of {count}")

    def current_page(self) -> int:
        """1-based, as citations count pages: the passage's while the view follows it (Qt's
        navigator names the page at the top edge, the one before when the passage's page
        is the last and cannot scroll up that far)."""
        if self._follow and self._passage is not None:
            return self._passage[0] + 1
        return self.pdf_view.pageNavigator().currentPage() + 1

    # Text ------------------------------------------------------------------------------

    def _open_text(self, source: SourceRef) -> None:
        hit = source.hit
        self.stack.setCurrentWidget(self.text_view)
        self.bar.set_pages(None, None)
        self.text_view.setPlainText("Reading the document…")
        self.text_view.setExtraSelections([])

        def find(text: str) -> tuple[str, int, int]:  # runs on the worker
            start, end = passage_range(text, hit.text, hit.char_start, hit.char_end)
            return text, utf16_offset(text, start), utf16_offset(text, end)

        job = self._read_document(hit.path, find)
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
        if start == end and self._source.hit.text.strip():
            self.detail.setText("The passage is no longer in this file; it may have changed.")
        elif start == end:
            pass  # a preview from the library: the text from its start
        else:
            self._highlight(start, end)
        emit(self.shown, self._source)

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

    def _find_in_text(self, text: str, backwards: bool) -> None:
        if not text:
            self.bar.find_state.clear()
            return
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        found = self.text_view.find(text, flags)
        if not found:  # wrap around once
            cursor = self.text_view.textCursor()
            end = QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
            cursor.movePosition(end)
            self.text_view.setTextCursor(cursor)
            found = self.text_view.find(text, flags)
        if found:
            self.text_view.centerCursor()
        self.bar.find_state.setText("" if found else "Not found")

    def highlighted_text(self) -> str:
        selections = self.text_view.extraSelections()
        return selections[0].cursor.selectedText() if selections else ""

    def _on_text_job_failed(self, exc: BaseException) -> None:
        if self.sender() is self._text_job:
            self._text_job = None
            self.text_view.setPlainText("")
            emit(
                self.failed,
                exc,
                f"show {os.path.basename(self._source.hit.path if self._source else '')}",
            )

    def _on_open_button_clicked(self) -> None:
        if self._source is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._source.hit.path))


def _union(rectangles: list[QRectF]) -> QRectF:
    """One rectangle around a passage's lines (points on its page)."""
    united = QRectF(rectangles[0]) if rectangles else QRectF()
    for rect in rectangles[1:]:
        united = united.united(rect)
    return united
