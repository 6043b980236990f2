"""Emitting signals never costs `True` a reference (PySide6 6.12.0's emit() returns a
borrowed one: a long session ended in "bool_dealloc: deallocating True or False")."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from embeddinggemma_rag.gui import signals
from embeddinggemma_rag.gui.signals import emit

GUI = Path(signals.__file__).parent


class _Sender(QObject):
    plain = Signal()
    carrying = Signal(str, bool)


def test_emitting_many_times_leaves_true_alone() -> None:
    sender = _Sender()
    sender.carrying.connect(lambda text, flag: None)
    before = sys.getrefcount(True)
    for _ in range(5_000):
        emit(sender.plain)
        emit(sender.carrying, "x", False)
    # Other threads may hold or drop a few references meanwhile; 10,000 emits lost 10,000.
    assert abs(sys.getrefcount(True) - before) < 100


def test_the_check_matches_this_pyside() -> None:
    sender = _Sender()
    before = sys.getrefcount(True)
    result = sender.plain.emit()
    borrowed = sys.getrefcount(True) == before
    assert result is True
    if borrowed:
        signals._py_incref(result)  # the reference this raw emit took
    assert borrowed == signals.EMIT_RETURNS_BORROWED


def test_the_gui_emits_only_through_the_helper() -> None:
    raw = re.compile(r"\.emit\(")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(GUI.glob("*.py"))
        if path.name != "signals.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if raw.search(line)
    ]
    assert offenders == []
