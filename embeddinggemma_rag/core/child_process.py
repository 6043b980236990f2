"""Stopping a worker process (parser, answer model) and saying in words how one ended."""

from __future__ import annotations

import contextlib
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

SIGKILL = getattr(signal, "SIGKILL", 9)  # Windows has no SIGKILL; what the OOM killer sends


def stop(
    process: BaseProcess | None,
    connection: Connection | None,
    graceful: bool,
    grace_seconds: float = 2.0,
) -> None:
    """Close the pipe and end the process: asked first (None down the pipe) when graceful,
    killed if it is still there after `grace_seconds`."""
    if connection is not None:
        if graceful:
            with contextlib.suppress(OSError, ValueError):
                connection.send(None)  # asks the child to return
        connection.close()
    if process is not None:
        if graceful:
            process.join(timeout=grace_seconds)
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        if not process.is_alive():
            process.close()  # releases the sentinel handle now rather than at collection


def describe_exit(code: int | None) -> str:
    """How a child ended, in words: "SIGSEGV", "exit code 1", "it stopped answering"."""
    if code is None:
        return "it stopped answering"
    if code >= 0:
        return f"exit code {code}"
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
