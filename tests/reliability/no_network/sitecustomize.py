"""Test-only: record and refuse every network call Python makes in this process.

Put this folder on PYTHONPATH and set RELIABILITY_NETWORK_LOG to a file: each attempt to
connect, send a datagram, bind or look up a name is appended there (one line, with the
innermost frames of the stack) and fails with ENETUNREACH. An audit hook sees these calls
below every library (urllib, http.client, requests, huggingface-hub, asyncio), which
patching `socket.socket.connect` or `socket.create_connection` alone would not. Local IPC
(AF_UNIX sockets: the parser process's pipe) is left alone. Native code that opens sockets
itself (llama.cpp, Qt) is not seen here: the network namespace test covers that.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import traceback

_LOG = os.environ.get("RELIABILITY_NETWORK_LOG", "")
_EVENTS = {
    "socket.connect",
    "socket.sendto",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
}


def _is_local_ipc(event: str, args: tuple[object, ...]) -> bool:
    if event in {"socket.connect", "socket.sendto", "socket.bind"}:
        sock = args[0]
        return getattr(sock, "family", None) == getattr(socket, "AF_UNIX", None)
    return False


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event not in _EVENTS or _is_local_ipc(event, args):
        return
    where = " <- ".join(
        f"{os.path.basename(frame.filename)}:{frame.lineno}"
        for frame in reversed(traceback.extract_stack(limit=8)[:-1])
    )
    shown = ", ".join(repr(arg) for arg in args if not isinstance(arg, socket.socket))
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {event}({shown}) at {where}\n")
    raise OSError(errno.ENETUNREACH, f"network blocked by the test: {event}")


if _LOG:
    sys.addaudithook(_hook)
