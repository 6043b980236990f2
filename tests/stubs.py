"""Fakes of the model interfaces, for tests only."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.intake.documents import SearchHit

Message = dict[str, str]

CITING_REPLY = "The warranty lasts three years [1]. It covers the element [1][2] and more [9]."


class ScriptedGenerator:
    """A chat model that streams a fixed reply word by word; a token is a word.

    Records the conversations it was given, so tests can see the prompt.
    """

    def __init__(
        self,
        reply: str = CITING_REPLY,
        context_tokens: int = 2048,
        per_message_tokens: int = 4,
        delay_seconds: float = 0.0,
    ) -> None:
        self.reply = reply
        self.context_tokens = context_tokens
        self.per_message_tokens = per_message_tokens
        self.delay_seconds = delay_seconds
        self.calls: list[list[Message]] = []
        self.yielded = 0
        self.closed = False
        self.threads: list[int] = []
        self.fresh: list[bool] = []

    def set_threads(self, threads: int, *, fresh: bool = False) -> None:
        self.threads.append(threads)
        self.fresh.append(fresh)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        # A template adds a few tokens per message and two for the generation prompt.
        return 2 + sum(self.per_message_tokens + self.count_tokens(m["content"]) for m in messages)

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: CancelToken
    ) -> Iterator[str]:
        self.calls.append([dict(m) for m in messages])
        for piece in re.findall(r"\S+\s*", self.reply)[:max_tokens]:
            if cancel.cancelled:
                return
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            self.yielded += 1
            yield piece

    def close(self) -> None:
        self.closed = True


def refusing_generator() -> ScriptedGenerator:
    """A generator factory for paths that must not load a model at all."""
    raise AssertionError("the generator must not be loaded here")


def make_hit(
    chunk_id: int,
    text: str,
    path: str = "/docs/manual.pdf",
    page: int | None = 1,
    similarity: float | None = 0.6,
    score: float = 0.5,
) -> SearchHit:
    return SearchHit(
        chunk_id=chunk_id,
        path=path,
        title=path.rsplit("/", 1)[-1],
        page=page,
        page_end=page,
        score=score,
        text=text,
        char_start=10 * chunk_id,
        char_end=10 * chunk_id + len(text),
        similarity=similarity,
    )
