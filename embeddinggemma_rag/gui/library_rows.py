"""How the library's rows are drawn: a status wrapped onto as many lines as it needs, and a
name on one line, shortened in the middle."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTreeWidget


class RowDelegate(QStyledItemDelegate):
    """Rows as tall as their wrapped status: QTreeView sizes rows without wrapping.

    Names stay on one line, cut in the middle: wrapped, "zh-style-guide/number.md" lost its
    second line to the row's height and five files of one folder all read "zh-style-guide/…".
    """

    def __init__(self, tree: QTreeWidget, name: int, status: int) -> None:
        super().__init__(tree)
        self._tree = tree
        self._name, self._status = name, status
        self._heights: dict[tuple[str, int], int] = {}  # (status text, column width) -> px

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        super().paint(painter, _one_line(option) if index.column() == self._name else option, index)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        if index.column() == self._name:
            return super().sizeHint(_one_line(option), index)
        hint = super().sizeHint(option, index)
        if index.column() != self._status:
            return hint
        text = str(index.data() or "")
        key = (text, self._tree.columnWidth(self._status))
        height = self._heights.get(key)
        if height is None:
            height = self._wrapped_height(option, text)
            if len(self._heights) > 4096:  # a cache, not a record of every row ever shown
                self._heights.clear()
            self._heights[key] = height
        return QSize(hint.width(), max(hint.height(), height))

    def _wrapped_height(self, option: QStyleOptionViewItem, text: str) -> int:
        # The icon, its spacing and the cell's margins; a little short rather than elided.
        icon = option.decorationSize.width() + 24  # type: ignore[attr-defined]
        width = max(self._tree.columnWidth(self._status) - icon, 40)
        box = option.fontMetrics.boundingRect(  # type: ignore[attr-defined]
            QRect(0, 0, width, 100_000), int(Qt.TextFlag.TextWordWrap), text
        )
        return int(box.height()) + 4


def _one_line(option: QStyleOptionViewItem) -> QStyleOptionViewItem:
    """The view's options for a name: not wrapped, shortened in the middle (a copy: Qt
    passes the view's own). Not an initStyleOption override: PySide6 crashed on one
    ("none_dealloc: deallocating None") a few hundred paints in."""
    single = QStyleOptionViewItem(option)
    single.features &= ~QStyleOptionViewItem.ViewItemFeature.WrapText  # type: ignore[attr-defined]
    single.textElideMode = Qt.TextElideMode.ElideMiddle  # type: ignore[attr-defined]
    return single
