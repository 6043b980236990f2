"""Draw the app icon with Qt, so no image editor or extra library is needed to change it.

The 256 px PNG is committed (the .desktop entry and the .deb use it); the build renders the
Windows .ico and the macOS .icns from the same drawing, because Qt's image plugins write both.

    python packaging/make_icon.py --png packaging/icons/embeddinggemma-rag.png
    python packaging/make_icon.py --ico build/icons/app.ico --icns build/icons/app.icns
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# No display is needed to paint into an image.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
)

INDIGO = QColor("#4338ca")
TEAL = QColor("#0d9488")
PAPER = QColor("#ffffff")
INK = QColor("#94a3b8")
AMBER = QColor("#f59e0b")


def render_icon(size: int) -> QImage:
    """The icon at `size` px: a page of text under a magnifying glass, on a gradient tile."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 256, size / 256)  # draw on a 256-unit grid whatever the size

    tile = QLinearGradient(QPointF(0, 0), QPointF(256, 256))
    tile.setColorAt(0, INDIGO)
    tile.setColorAt(1, TEAL)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(tile))
    painter.drawRoundedRect(QRectF(8, 8, 240, 240), 48, 48)

    page = QPainterPath()  # a sheet with its top-right corner folded
    page.moveTo(52, 36)
    page.lineTo(142, 36)
    page.lineTo(178, 72)
    page.lineTo(178, 212)
    page.lineTo(52, 212)
    page.closeSubpath()
    painter.setBrush(PAPER)
    painter.drawPath(page)
    painter.setBrush(QColor("#cbd5e1"))
    fold = QPainterPath()
    fold.moveTo(142, 36)
    fold.lineTo(142, 72)
    fold.lineTo(178, 72)
    fold.closeSubpath()
    painter.drawPath(fold)

    painter.setBrush(INK)
    for row, width in enumerate((70, 96, 88, 60, 92, 74)):
        painter.drawRoundedRect(QRectF(68, 88 + row * 18, width, 8), 4, 4)

    painter.setPen(QPen(AMBER, 18, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    painter.setBrush(QColor(255, 255, 255, 70))
    painter.drawEllipse(QPointF(166, 160), 38, 38)
    painter.setPen(QPen(AMBER, 24, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    painter.drawLine(QPointF(194, 188), QPointF(222, 216))
    painter.end()
    return image


def _save(image: QImage, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), fmt):
        raise SystemExit(f"make_icon: Qt could not write {path} as {fmt}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, help="write a 256 px PNG here")
    parser.add_argument("--ico", type=Path, help="write a Windows .ico (256 px) here")
    parser.add_argument("--icns", type=Path, help="write a macOS .icns (1024 px) here")
    args = parser.parse_args(argv)
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    if args.png:
        _save(render_icon(256), args.png, "PNG")
    if args.ico:
        _save(render_icon(256), args.ico, "ICO")  # 256 px is the largest size ICO holds
    if args.icns:
        _save(render_icon(1024), args.icns, "ICNS")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
