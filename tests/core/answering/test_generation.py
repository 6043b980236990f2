"""LlamaGenerator on the tiny generated GGUF: loading, counting, streaming, cancel, bad files."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddinggemma_rag.core.answering.generation import LlamaGenerator, read_chat_template
from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.errors import ModelError
from tests.conftest import TINY_CHAT_MODEL

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What does the manual say about the warranty?"},
]


@pytest.fixture(scope="module")
def generator() -> Iterator[LlamaGenerator]:
    model = LlamaGenerator(TINY_CHAT_MODEL, context_tokens=512, threads=1)
    yield model
    model.close()


def with_chat_template(src: Path, dst: Path, template: str | None) -> Path:
    """A copy of a GGUF with another chat template (None: without one).

    The new string is padded so the header grows by a multiple of the 32-byte alignment:
    tensor offsets are relative to the aligned data start, so they stay right.
    """
    key = b"tokenizer.chat_template"
    data = src.read_bytes()
    at = data.index(struct.pack("<Q", len(key)) + key)
    if template is None:  # rename the key (same length): the file stays valid
        dst.write_bytes(data.replace(key, b"tokenizer.chat_templatX"))
        return dst
    value = at + 8 + len(key)
    assert struct.unpack_from("<I", data, value)[0] == 8  # a string
    old_length = struct.unpack_from("<Q", data, value + 4)[0]
    new = template.encode()
    new += b" " * ((old_length - len(new)) % 32)
    tail = data[value + 12 + old_length :]
    dst.write_bytes(data[: value + 4] + struct.pack("<Q", len(new)) + new + tail)
    return dst


def test_counts_tokens_with_the_models_tokenizer(generator: LlamaGenerator) -> None:
    assert generator.count_tokens("") == 0
    assert 0 < generator.count_tokens("hello") <= generator.count_tokens("hello world, again")
    chat = generator.count_chat_tokens(MESSAGES)
    # The template's own markers come on top of the contents.
    assert chat > sum(generator.count_tokens(m["content"]) for m in MESSAGES)


def test_streams_text_pieces_within_max_tokens(generator: LlamaGenerator) -> None:
    pieces = list(generator.stream_chat(MESSAGES, 12, 0.2, CancelToken()))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert len(pieces) <= 12


def test_same_seed_same_answer(generator: LlamaGenerator) -> None:
    first = "".join(generator.stream_chat(MESSAGES, 10, 0.7, CancelToken()))
    second = "".join(generator.stream_chat(MESSAGES, 10, 0.7, CancelToken()))
    assert first == second


def test_cancel_after_first_token_stops_promptly(generator: LlamaGenerator) -> None:
    cancel = CancelToken()
    pieces = []
    for piece in generator.stream_chat(MESSAGES, 200, 0.2, cancel):
        pieces.append(piece)
        cancel.cancel()
    assert len(pieces) == 1  # checked before every further token


def test_cancel_from_another_thread_stops_the_stream(generator: LlamaGenerator) -> None:
    cancel = CancelToken()
    pieces: list[str] = []
    for piece in generator.stream_chat(MESSAGES, 400, 0.2, cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            threading.Thread(target=cancel.cancel).start()
    assert len(pieces) < 10
    # The model is usable again afterwards (the abort flag does not stick).
    assert list(generator.stream_chat(MESSAGES, 3, 0.2, CancelToken()))


def test_thread_count_can_change_between_answers(generator: LlamaGenerator) -> None:
    generator.set_threads(2)
    assert list(generator.stream_chat(MESSAGES, 3, 0.2, CancelToken()))
    generator.set_threads(1)
    assert list(generator.stream_chat(MESSAGES, 3, 0.2, CancelToken()))


def test_already_cancelled_yields_nothing(generator: LlamaGenerator) -> None:
    cancel = CancelToken()
    cancel.cancel()
    assert list(generator.stream_chat(MESSAGES, 50, 0.2, cancel)) == []


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found") as error:
        LlamaGenerator(tmp_path / "nope.gguf")
    assert "models download" in str(error.value)


def test_not_a_gguf_is_a_model_error(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>a login page saved as a model</html>")
    with pytest.raises(ModelError, match="not a GGUF"):
        LlamaGenerator(fake)


def test_truncated_gguf_is_a_model_error(tmp_path: Path) -> None:
    truncated = tmp_path / "half.gguf"
    truncated.write_bytes(TINY_CHAT_MODEL.read_bytes()[:200_000])
    with pytest.raises(ModelError, match="truncated or damaged") as error:
        LlamaGenerator(truncated)
    assert str(truncated) in str(error.value)
    assert "\n" not in str(error.value)


def test_gguf_without_chat_template_is_refused(tmp_path: Path) -> None:
    path = with_chat_template(TINY_CHAT_MODEL, tmp_path / "base.gguf", None)
    with pytest.raises(ModelError, match="no chat template"):
        LlamaGenerator(path)
    with pytest.raises(ModelError, match="no chat template"):
        read_chat_template(path)


def test_chat_template_renders_in_a_sandbox(tmp_path: Path) -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ messages[0]['content'] }}"
    path = with_chat_template(TINY_CHAT_MODEL, tmp_path / "evil.gguf", evil)
    with pytest.raises(ModelError, match="SecurityError"):
        LlamaGenerator(path)
    with pytest.raises(ModelError, match="SecurityError"):
        read_chat_template(path)


def test_template_that_does_not_parse_is_a_model_error(tmp_path: Path) -> None:
    path = with_chat_template(TINY_CHAT_MODEL, tmp_path / "bad.gguf", "{% for m in messages %}")
    with pytest.raises(ModelError, match="does not parse"):
        LlamaGenerator(path)


def test_template_without_system_role_gets_instructions_in_the_first_turn(
    tmp_path: Path,
) -> None:
    template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('no system role') }}{% endif %}"
        "<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    )
    path = with_chat_template(TINY_CHAT_MODEL, tmp_path / "nosys.gguf", template)
    model = LlamaGenerator(path, context_tokens=256, threads=1)
    try:
        assert model.count_chat_tokens(MESSAGES) > 0
        assert list(model.stream_chat(MESSAGES, 3, 0.2, CancelToken()))
    finally:
        model.close()


def test_loading_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    assert "messages" in read_chat_template(TINY_CHAT_MODEL)
    # Past the trained context llama.cpp warns (and would print, verbose=False or not).
    model = LlamaGenerator(TINY_CHAT_MODEL, context_tokens=8192, threads=1)
    list(model.stream_chat(MESSAGES, 2, 0.2, CancelToken()))
    model.close()
    assert capfd.readouterr().err == ""


FULL_SIZE_MODEL = (
    Path(__file__).resolve().parents[3] / "models/generated/gemma-3-1b-random-Q4_K_M.gguf"
)


@pytest.mark.slow
@pytest.mark.skipif(not FULL_SIZE_MODEL.exists(), reason="full-size random GGUF not generated")
def test_cancel_interrupts_a_long_prompt_evaluation() -> None:
    """Seconds of prompt reading on two cores: cancel must not wait for the first token."""
    model = LlamaGenerator(FULL_SIZE_MODEL, context_tokens=2048)
    messages = [{"role": "user", "content": "word " * 700}]  # about 1,400 tokens
    assert model.count_chat_tokens(messages) < 2048 - 16
    cancel = CancelToken()
    pieces: list[str] = []
    ended = threading.Event()

    def run() -> None:
        try:
            pieces.extend(model.stream_chat(messages, 16, 0.2, cancel))
        finally:
            ended.set()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert not ended.wait(1.0)  # still reading the prompt
        cancel.cancel()
        assert ended.wait(3.0), "prompt evaluation did not stop"
        assert pieces == []
    finally:
        worker.join()
        model.close()


def test_amx_builds_load_without_extra_weight_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    from llama_cpp import llama_cpp as low_level

    from embeddinggemma_rag.core.answering import generation

    for info, safe in ((b"AVX2 = 1 | AMX_INT8 = 1 | ", False), (b"AVX2 = 1 | AVX512 = 1 | ", True)):
        monkeypatch.setattr(low_level, "llama_print_system_info", lambda info=info: info)
        assert generation.amx_repack_is_safe() is safe
    default = low_level.llama_model_default_params
    with generation.model_params(False):
        assert low_level.llama_model_default_params().use_extra_bufts is False
    assert low_level.llama_model_default_params is default  # restored for everyone else
    assert default().use_extra_bufts is True  # llama.cpp's own default


def test_the_repetition_guard_ends_a_loop_but_not_a_restatement() -> None:
    from embeddinggemma_rag.core.answering.generation import RepetitionGuard

    loop = RepetitionGuard()
    for piece in ["The passage is quoted ", "material, not instructions.\n"] * 3:
        assert not loop.looping
        loop.add(piece)
    assert loop.looping
    answer = RepetitionGuard()
    answer.add("The warranty lasts three years [1]. It covers the element [2]. ")
    answer.add("The warranty lasts three years [1]. See [1]. See [1]. See [1]. ")
    assert not answer.looping  # one word-for-word restatement, and short sentences: no loop
