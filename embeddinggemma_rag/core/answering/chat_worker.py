"""The answer model's process: loads the GGUF with llama.cpp and serves `ProcessChatModel`.

llama.cpp is native code fed with downloaded files; a fault in it (a segfault in a CPU
kernel, an out-of-memory kill) must cost one answer, never the app and its open
conversation. So the model lives here, in a child process, and the app talks to it over a
pipe.
"""

from __future__ import annotations

import contextlib
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embeddinggemma_rag.core.answering.generation import LlamaGenerator
    from embeddinggemma_rag.core.cancel import CancelToken

READY = "ready"
# libgomp's spins before a waiting thread sleeps (its default: 300,000, or none with
# OMP_WAIT_POLICY=PASSIVE). Measured with SmolLM2 on two cores, README Answers.
GOMP_SPINCOUNT = "3000"
# One request is a tuple whose first item names it; replies likewise.
#   ("count", text) -> ("ok", int)        ("count_chat", messages) -> ("ok", int)
#   ("threads", n, fresh) -> ("ok", None)         ("forget",) -> ("ok", None)
#   ("chat", messages, max_tokens, temperature) ->
#   ("piece", text)... then ("end", None)  any failure -> ("error", ModelError reason)
#   None or a closed pipe: return.


def serve(
    connection: Connection,
    cancel: Event,
    model_path: str,
    context_tokens: int,
    threads: int,
    seed: int,
    setup_module: str | None = None,
) -> None:
    """Entry point of the child (module level, so that spawn and frozen apps can import it)."""
    # Ctrl+C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_own_session()
    # llama.cpp's OpenMP threads wait for each other at every step of a token. Spinning for
    # ever (an OpenMP default) starves other work on a shared core, and them with it: 3.3
    # tokens/s instead of 43 beside an ingest; waiting passively costs 60 % on an idle
    # machine (25 against 65 tokens/s with SmolLM2 on two cores). A short spin keeps the
    # idle speed, and the thread count follows the cores other programs leave free
    # (CoreShare). Both must be set before the OpenMP runtime loads with llama.cpp.
    os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)
    if setup_module:  # tests only: e.g. a module that makes the next answer crash
        import importlib

        importlib.import_module(setup_module)

    from embeddinggemma_rag.core.answering.generation import LlamaGenerator
    from embeddinggemma_rag.core.cancel import CancelToken
    from embeddinggemma_rag.core.cpu_share import CoreShare, app_stat_file
    from embeddinggemma_rag.core.errors import ModelError

    try:
        share = CoreShare(app_stat=app_stat_file())
        share.follow()
        model = LlamaGenerator(Path(model_path), context_tokens, threads, seed, core_share=share)
    except ModelError as error:
        connection.send(("error", error.reason))
        return
    token = CancelToken(cancel)
    try:
        connection.send((READY, model.context_tokens))
    except (BrokenPipeError, OSError):  # the app went while the model loaded
        model.close()
        return
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        try:
            _handle(connection, model, token, request)
        except (BrokenPipeError, EOFError):
            break
        except ModelError as error:
            connection.send(("error", error.reason))
        except Exception as error:  # llama.cpp's own RuntimeError/ValueError: one answer fails
            connection.send(("error", f"the answer model failed ({type(error).__name__}: {error})"))
    model.close()


def _start_own_session() -> None:
    """Linux's scheduler (autogroup, on in most distributions' kernels) shares the CPU
    between sessions, then between the threads of each. In the app's session a job of many
    threads started beside it (a build from the same terminal, a benchmark's burner) takes a
    share per thread, and an answer on one thread gets two thirds of a core beside two; in a
    session of its own it gets a program's share: beside a two-thread job SmolLM2 wrote 57
    tokens/s instead of 40 (README, Answers beside a busy neighbour). Nothing reaches
    the process through the session: Ctrl+C is ignored above, and a closed pipe ends it
    when the app goes (`serve`), however the app ended."""
    if hasattr(os, "setsid"):  # POSIX; Windows shares the CPU by thread anyway
        with contextlib.suppress(OSError):  # already a session leader
            os.setsid()


def _handle(
    connection: Connection, model: LlamaGenerator, token: CancelToken, request: tuple[Any, ...]
) -> None:
    kind = request[0]
    if kind == "count":
        connection.send(("ok", model.count_tokens(request[1])))
    elif kind == "count_chat":
        connection.send(("ok", model.count_chat_tokens(request[1])))
    elif kind == "forget":
        model.forget_prompt()
        connection.send(("ok", None))
    elif kind == "threads":
        model.set_threads(int(request[1]), fresh=bool(request[2]))
        connection.send(("ok", None))
    elif kind == "chat":
        _, messages, max_tokens, temperature = request
        for piece in model.stream_chat(messages, max_tokens, temperature, token):
            connection.send(("piece", piece))
        connection.send(("end", None))
    else:
        connection.send(("error", f"unknown request {kind!r}"))
