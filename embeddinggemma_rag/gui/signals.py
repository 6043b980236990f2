"""Emitting a Qt signal from Python, without PySide6 6.12's lost reference to True.

PySide6 6.12.0's `SignalInstance.emit()` returns `True` without the new reference a
return value carries, so every emit from Python takes one reference from `True`. In a long
session (progress, streamed tokens and job results are all emitted from Python) the count
reaches zero and the interpreter aborts with "bool_dealloc: deallocating True or False",
at exit or before. `emit` below gives the reference back, only when this PySide6 was seen
to need it (checked once at import), so a fixed PySide6 needs no change here.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any, cast

from PySide6.QtCore import QObject, Signal, SignalInstance

_py_incref = ctypes.pythonapi.Py_IncRef
_py_incref.argtypes = [ctypes.py_object]
_py_incref.restype = None


class _Probe(QObject):
    ping = Signal()


def _emit_returning(signal: SignalInstance) -> Callable[..., object]:
    """`signal.emit`, typed as what it is: PySide6's stubs say it returns None, but it
    returns whether the signal was delivered, and that value is what the 6.12.0 bug is about."""
    return cast("Callable[..., object]", signal.emit)


def emit_returns_borrowed_reference() -> bool:
    """Does `emit()` return its result without a reference of its own (the 6.12.0 bug)?"""
    probe = _Probe()
    for _ in range(3):  # another thread may move True's count once; not three times
        before = sys.getrefcount(True)
        result = _emit_returning(probe.ping)()
        gained = sys.getrefcount(True) - before
        if result is not True:
            return False
        if gained != 0:  # held by `result` as it should be
            return False
        _py_incref(result)  # the probe's own emits must not cost True either
        del result
    return True


EMIT_RETURNS_BORROWED = emit_returns_borrowed_reference()


def emit(signal: SignalInstance, *args: Any) -> None:
    """`signal.emit(*args)`, giving back the reference PySide6 6.12.0 takes from `True`."""
    result = _emit_returning(signal)(*args)
    if EMIT_RETURNS_BORROWED and result is not None:
        _py_incref(result)
