"""A page read by OCR, shown as its image with the cited passage's lines highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPixmap, QResizeEvent
from PySide6.QtPdf import QPdfDocument
from PySide6.QtWidgets import QLabel, QScrollArea, QWidget

from embeddinggemma_rag.core.records import TextBox

RENDER_WIDTH = 1400  # pixels across the rendered page; the view scales it to its width
_HIGHLIGHT = QColor(255, 213, 0, 110)  # translucent yellow: the scan stays readable below


def page_image(path: str, page: int, pdf: QPdfDocument | None) -> QImage:
    """Page `page` (1-based) of a PDF already loaded in `pdf`, or frame `page` of a picture."""
    if pdf is not None:
        size = pdf.pagePointSize(page - 1)
        if size.width() <= 0:
            return QImage()
        height = round(RENDER_WIDTH * size.height() / size.width())
        return pdf.render(page - 1, QSize(RENDER_WIDTH, height))
    reader = QImageReader(path)
    if page > 1:
        reader.jumpToImage(page - 1)
    return reader.read()


def highlight(image: QImage, boxes: Sequence[TextBox]) -> QImage:
    """A copy of the page with each box (fractions of the page) filled in translucent yellow."""
    marked = image.convertToFormat(QImage.Format.Format_ARGB32)
    painter = QPainter(marked)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_HIGHLIGHT)
    width, height = marked.width(), marked.height()
    for box in boxes:
        painter.drawRect(
            QRectF(
                box.left * width,
                box.top * height,
                (box.right - box.left) * width,
                (box.bottom - box.top) * height,
            )
        )
    painter.end()
    return marked


class OcrPageView(QScrollArea):
    """The page image, scaled to the view's width, scrolled to the first highlighted line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Scanned page")
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.highlighted: list[TextBox] = []
        self._image = QImage()

    def show_page(self, image: QImage, boxes: Sequence[TextBox]) -> None:
        self.highlighted = list(boxes)
        self._image = highlight(image, boxes) if not image.isNull() else image
        self._rescale()
        if boxes and not image.isNull():
            top = min(box.top for box in boxes)
            bar = self.verticalScrollBar()
            bar.setValue(int(top * self.label.pixmap().height()) - self.viewport().height() // 3)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image.isNull():
            self.label.setText("The page image could not be shown; try the system app.")
            return
        width = max(200, self.viewport().width() - 4)
        pixmap = QPixmap.fromImage(self._image).scaledToWidth(
            width, Qt.TransformationMode.SmoothTransformation
        )
        self.label.setPixmap(pixmap)
