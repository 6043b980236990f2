"""The committed tiny chat GGUF: llama-cpp-python loads it, applies its template and streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

GGUF = Path(__file__).resolve().parents[1] / "data" / "models" / "tiny-chat.gguf"


@pytest.fixture(scope="module")
def llm() -> Iterator[llama_cpp.Llama]:
    model = llama_cpp.Llama(str(GGUF), n_ctx=512, n_threads=1, seed=0, verbose=False)
    yield model
    model.close()


def test_small_file() -> None:
    assert GGUF.stat().st_size < 1_000_000


def test_metadata(llm: llama_cpp.Llama) -> None:
    template = llm.metadata["tokenizer.chat_template"]
    assert "<start_of_turn>" in template and "<end_of_turn>" in template
    assert int(llm.metadata["llama.context_length"]) >= 2048
    assert (llm.token_bos(), llm.token_eos()) == (2, 1)


def test_prompts_get_bos_but_no_eos(llm: llama_cpp.Llama) -> None:
    # An <eos> after the prompt would tell the model the conversation is over.
    tokens = llm.tokenize(b"hi")
    assert tokens[0] == 2 and tokens[-1] != 1


def test_byte_level_vocabulary_round_trips(llm: llama_cpp.Llama) -> None:
    text = "Größe café – 東京 🚀\n\ttabs"
    tokens = llm.tokenize(text.encode(), add_bos=False)
    assert llm.detokenize(tokens).decode() == text


def test_template_renders_gemma_turns(llm: llama_cpp.Llama) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"], eos_token="<eos>", bos_token="<bos>"
    )
    prompt = formatter(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ]
    ).prompt
    assert prompt == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    )


def test_streams_openai_chunks(llm: llama_cpp.Llama) -> None:
    stream = llm.create_chat_completion(
        [{"role": "user", "content": "Hello"}], stream=True, max_tokens=8, temperature=0.0
    )
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "delta" in chunks[0]["choices"][0]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop")


def test_loads_with_2048_context() -> None:
    model = llama_cpp.Llama(str(GGUF), n_ctx=2048, n_threads=1, verbose=False)
    try:
        assert model.n_ctx() == 2048
    finally:
        model.close()
