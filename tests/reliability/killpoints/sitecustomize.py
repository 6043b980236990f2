"""Test-only: SIGKILL this process at one chosen persistence step of the library.

Put this folder on PYTHONPATH of a CLI run and set RELIABILITY_KILL_AT to
"<step>:<file>:<n>", where step is one of
  commit-before, commit-after    the n-th COMMIT on `file` (an SQLite database), just before
                                 it runs or just after it returns;
  replace-before, replace-after  the n-th os.replace onto `file` (atomic saves), just before
                                 or just after the rename.
Nothing here is part of the app: it patches the standard library from outside, like a
debugger would, so the app needs no test hook of its own.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from typing import Any

_SPEC = os.environ.get("RELIABILITY_KILL_AT", "")
_lock = threading.Lock()
_seen = 0


def _tick(step: str, name: str, when: str) -> None:
    global _seen
    wanted_step, wanted_name, count = _SPEC.split(":")
    if not wanted_step.startswith(step) or name != wanted_name:
        return
    with _lock:
        if when == "before":  # counts occurrences, whichever side of them is wanted
            _seen += 1
        if wanted_step == f"{step}-{when}" and _seen == int(count):
            os.kill(os.getpid(), signal.SIGKILL)


if _SPEC:
    _connect = sqlite3.connect
    _replace = os.replace

    class _Connection(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql != "COMMIT":
                return super().execute(sql, *args)
            _tick("commit", self._name, "before")
            cursor = super().execute(sql, *args)
            _tick("commit", self._name, "after")
            return cursor

    def _connect_killable(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", _Connection)
        connection = _connect(database, *args, **kwargs)
        connection._name = os.path.basename(str(database))  # type: ignore[attr-defined]
        return connection

    def _replace_killable(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        name = os.path.basename(os.fspath(target))
        _tick("replace", name, "before")
        _replace(source, target, *args, **kwargs)
        _tick("replace", name, "after")

    sqlite3.connect = _connect_killable  # type: ignore[assignment]
    os.replace = _replace_killable
