"""The answer-writing model: a GGUF chat model run by llama.cpp, streamed token by token."""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken
from embeddinggemma_rag.core.cpu_share import CoreShare
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.models import model_files

Message = dict[str, str]
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
# llama-cpp-python's name for the template it read from the GGUF metadata. Naming it keeps
# llama-cpp-python from swapping in a built-in format it "guesses" from the template, so what
# we count in `count_chat_tokens` is exactly what the model is given.
_METADATA_FORMAT = "chat_template.default"
THREAD_CHECK_S = 0.5  # how often a streaming answer re-counts the cores others leave free


class ChatModel(Protocol):
    """What answering needs from a generator; tests substitute a scripted fake."""

    context_tokens: int

    def set_threads(self, threads: int, *, fresh: bool = False) -> None:
        """`fresh`: the app's own work that kept the cores busy has just stopped, so the
        load of the last moments is not another program's."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def count_chat_tokens(self, messages: Sequence[Message]) -> int: ...

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: CancelToken
    ) -> Iterator[str]: ...

    def close(self) -> None: ...


def read_chat_template(path: Path) -> str:
    """The chat template of a GGUF, read with the tokenizer only (fast); ModelError if none."""
    llama = _load(path, vocab_only=True)
    try:
        template = _chat_template(llama, path)
        _probe_template(_formatter(llama, template, path), path)
        return template
    finally:
        llama.close()


class LlamaGenerator:
    """A GGUF chat model; one conversation at a time (llama.cpp contexts are not thread-safe)."""

    def __init__(
        self,
        model_path: Path,
        context_tokens: int = 2048,
        threads: int | None = None,
        seed: int = 0,
        core_share: CoreShare | None = None,
    ) -> None:
        self.model_path = model_files.locate_generator_model(model_path)
        self.context_tokens = context_tokens
        self.seed = seed
        threads = threads or paths.physical_cores()
        # With a CoreShare, `threads` is a cap: fewer are used while other programs keep
        # cores busy (the answer process; in process, llama-cpp-python's own behaviour).
        self._core_share = core_share
        self._max_threads = threads
        self._threads = threads
        self._llama = _load(
            self.model_path,
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            seed=seed,
            chat_format=_METADATA_FORMAT,
        )
        try:
            template = _chat_template(self._llama, self.model_path)
            self._formatter = _formatter(self._llama, template, self.model_path)
            self._system_role = _probe_template(self._formatter, self.model_path)
        except BaseException:
            self._llama.close()
            raise
        self._lock = threading.Lock()
        self._cancel: CancelToken = NEVER_CANCELLED
        # Asked by llama.cpp between graph nodes, so a cancel also stops a long prompt
        # evaluation (seconds on two cores) instead of waiting for the first token.
        self._abort = _ABORT_CALLBACK(lambda _: self._cancel.cancelled)
        from llama_cpp import llama_cpp as low_level

        low_level.llama_set_abort_callback(self._llama.ctx, self._abort, None)

    def set_threads(self, threads: int, *, fresh: bool = False) -> None:
        """Threads for the next answers (prompt reading and writing alike); with a CoreShare,
        the most that are used, and with `fresh` it measures other programs from now on."""
        with self._lock:
            if fresh and self._core_share is not None:
                self._core_share.forget()
            self._max_threads = threads
            self._use_threads(threads)

    def _use_threads(self, threads: int) -> None:
        from llama_cpp import llama_cpp as low_level

        if threads != self._threads:
            low_level.llama_set_n_threads(self._llama.ctx, threads, threads)
            self._threads = threads

    def _follow_spare_cores(self) -> None:
        if self._core_share is not None:
            self._use_threads(self._core_share.threads_for_now(self._max_threads))

    def forget_prompt(self) -> None:
        """Drop the cached prompt, so the next answer reads its prompt from the start
        (benchmarks: every round cold)."""
        with self._lock:
            self._llama.reset()

    def count_tokens(self, text: str) -> int:
        """Tokens of plain text in this model's vocabulary (no BOS, no special tokens)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        """Exact prompt tokens of a conversation rendered with the model's chat template."""
        rendered = self._formatter(messages=self._adapt(messages))
        # Tokenised as llama-cpp-python's chat handler does before generating.
        tokens = self._llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return len(tokens)

    def stream_chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> Iterator[str]:
        """Yield the answer's text piece by piece; stops (without error) once `cancel` is set."""
        with self._lock:
            self._cancel = cancel
            try:
                yield from self._stream(messages, max_tokens, temperature, cancel)
            finally:
                self._cancel = NEVER_CANCELLED

    def _stream(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: CancelToken
    ) -> Iterator[str]:
        if cancel.cancelled:
            return
        self._follow_spare_cores()
        checked = time.monotonic()
        chunks: Any = self._llama.create_chat_completion(
            messages=self._adapt(messages),  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=temperature,
            seed=self.seed,
            stream=True,
            # Small models fall into loops (SmolLM2-135M wrote one sentence 38 times over);
            # a mild penalty makes that rarer, the guard below ends what still happens.
            repeat_penalty=REPEAT_PENALTY,
        )
        guard = RepetitionGuard()
        try:
            while not cancel.cancelled and not guard.looping:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                except RuntimeError:
                    if cancel.cancelled:  # llama_decode aborted by our callback
                        return
                    raise
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    guard.add(text)
                    yield text
                if time.monotonic() - checked >= THREAD_CHECK_S:
                    self._follow_spare_cores()  # between two tokens: no decode is running
                    checked = time.monotonic()
        finally:
            chunks.close()  # ends llama-cpp-python's generator: no further decoding

    def _adapt(self, messages: Sequence[Message]) -> list[Message]:
        """Fold a system message into the first user turn for templates without that role."""
        if self._system_role or not messages or messages[0]["role"] != "system":
            return [dict(m) for m in messages]
        system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
            return rest
        return [{"role": "user", "content": system}, *rest]

    def close(self) -> None:
        with self._lock:
            self._llama.close()


class RepetitionGuard:
    """Tells when an answer has started to repeat itself, so generation can end early.

    A sentence (or line) of some length written a third time is a loop, not an answer: a
    legitimate answer may restate a point once, but not twice word for word.
    """

    MIN_CHARS = 16  # shorter sentences ("See [1].") repeat legitimately
    MAX_COPIES = 3

    def __init__(self) -> None:
        self._pending = ""
        self._seen: dict[str, int] = {}
        self.looping = False

    def add(self, text: str) -> None:
        self._pending += text
        *finished, self._pending = _SENTENCE_END.split(self._pending)
        for sentence in finished:
            key = " ".join(sentence.split()).lower()
            if len(key) < self.MIN_CHARS:
                continue
            self._seen[key] = self._seen.get(key, 0) + 1
            if self._seen[key] >= self.MAX_COPIES:
                self.looping = True


# The end of a sentence or line in most scripts: . ! ? and their CJK/Devanagari forms.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।])\s+|\n+")
REPEAT_PENALTY = 1.1
_ABORT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


def _load(path: Path, **options: Any) -> Any:
    """A llama_cpp.Llama, with every load failure turned into one ModelError naming the file."""
    path = model_files.locate_generator_model(path)
    from llama_cpp import Llama  # loads the llama.cpp shared library: only when needed

    try:
        # llama-cpp-python 0.3.x maps ggml's log levels off by one, so with verbose=False
        # warnings ("using full-size SWA cache") still reach stderr through its callback,
        # which prints to sys.stderr: catch them here, and silence the callback afterwards.
        with contextlib.redirect_stderr(io.StringIO()), model_params(amx_repack_is_safe()):
            llama = Llama(model_path=str(path), verbose=False, **options)
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        return llama
    except Exception as exc:  # ValueError mostly; a Jinja error for a template that won't parse
        if type(exc).__module__.startswith("jinja2"):
            raise ModelError(path, f"has a chat template that does not parse ({exc})") from exc
        # llama-cpp-python only says "Failed to load model from file": the path, said once.
        raise ModelError(
            path,
            "cannot be loaded by llama.cpp (truncated or damaged, or an architecture this "
            "llama.cpp does not know)",
        ) from exc


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def model_params(use_extra_buffers: bool) -> Iterator[None]:
    """Load with llama.cpp's extra weight buffers (repacking) switched as asked.

    The `Llama` constructor does not expose `use_extra_bufts`; it reads the defaults from
    `llama_model_default_params` while it runs, so that function is swapped for the call.
    """
    from llama_cpp import llama_cpp as low_level

    with _PARAMS_LOCK:
        default = low_level.llama_model_default_params

        def params() -> Any:
            value = default()
            value.use_extra_bufts = use_extra_buffers
            return value

        low_level.llama_model_default_params = params
        try:
            yield
        finally:
            low_level.llama_model_default_params = default


def amx_repack_is_safe() -> bool:
    """False where llama.cpp would repack weights for Intel AMX.

    That path segfaults in `llama_decode` on quantized models (Q4_1, Q4_K_M: reproduced here
    with SmolLM2 and Gemma 3 on a Xeon with AMX; ggml-org/llama.cpp#20824, open). Without the
    extra buffers the same file answers the same text. Elsewhere the repacked kernels (AVX2,
    AVX-512, NEON) are kept: they are faster and sound.
    """
    from llama_cpp import llama_cpp as low_level

    return b"AMX_INT8 = 1" not in low_level.llama_print_system_info()


def _chat_template(llama: Any, path: Path) -> str:
    template = llama.metadata.get(CHAT_TEMPLATE_KEY)
    if not template:
        raise ModelError(path, "has no chat template in its metadata; use an instruct (chat) model")
    return str(template)


def _formatter(llama: Any, template: str, path: Path) -> Any:
    """The same renderer llama-cpp-python builds from the metadata.

    Jinja2ChatFormatter renders in jinja2's ImmutableSandboxedEnvironment: a template from a
    downloaded file can read its variables but not reach Python attributes or call functions
    beyond the few the formatter passes, so rendering it executes no arbitrary code.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = llama.token_eos(), llama.token_bos()
    try:
        return Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
    except Exception as exc:  # a Jinja syntax error in the file's template
        raise ModelError(path, f"has a chat template that does not parse ({exc})") from exc


def _probe_template(formatter: Any, path: Path) -> bool:
    """Check the template renders a conversation; True when it takes a system message.

    Some templates (Mistral's, Gemma 2's) raise on a system message: the instructions then go
    into the first user turn.
    """
    user = [{"role": "user", "content": "u"}]
    try:
        formatter(messages=[{"role": "system", "content": "s"}, *user])
        return True
    except Exception:  # the template's own raise_exception, or a Jinja error
        pass
    try:
        formatter(messages=user)
    except Exception as exc:  # broken, or stopped by the sandbox (SecurityError)
        reason = f"has a chat template that cannot be rendered ({type(exc).__name__}: {exc})"
        raise ModelError(path, reason) from exc
    return False
