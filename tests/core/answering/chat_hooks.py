"""Test-only faults inside the answer model's process (imported there by `_setup_module`).

`EMBEDDINGGEMMA_RAG_TEST_CHAT_FAULT` says what the next answer does:
- `segv:N`: after N pieces the process receives SIGSEGV, as on a native fault in llama.cpp;
- `slow:S`: every piece waits S seconds, so a test can kill the process mid-answer from outside.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from embeddinggemma_rag.core.answering.generation import LlamaGenerator

FAULT_VARIABLE = "EMBEDDINGGEMMA_RAG_TEST_CHAT_FAULT"
_original = LlamaGenerator.stream_chat


def _faulty(self: LlamaGenerator, *args: Any, **kwargs: Any) -> Iterator[str]:
    kind, _, amount = os.environ.get(FAULT_VARIABLE, "").partition(":")
    for count, piece in enumerate(_original(self, *args, **kwargs), start=1):
        if kind == "slow":
            time.sleep(float(amount))
        yield piece
        if kind == "segv" and count >= int(amount):
            os.kill(os.getpid(), signal.SIGSEGV)


LlamaGenerator.stream_chat = _faulty  # type: ignore[method-assign]
