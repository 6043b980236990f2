"""Model files are untrusted input too: sums checked, weights kept inside their folder, and a
GGUF's chat template rendered in a sandbox that runs no code."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.answering.generation import LlamaGenerator, read_chat_template
from embeddinggemma_rag.core.engine import build_engine
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.models import model_files
from embeddinggemma_rag.core.models.embedding import OnnxEmbedder
from embeddinggemma_rag.core.models.model_files import (
    EMBEDDING_MODEL_DIR_NAME,
    GENERATOR_MODEL_FILE_NAME,
)
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.reliability.helpers import run_cli
from tests.reliability.model_files_factory import with_chat_template, with_external_data_at

# --- ONNX external data ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "refusal"),
    [
        ("../../outside.data", "escapes model directory"),  # the folder above the model's
        ("/dev/shm/tiny.data", "Absolute"),
    ],
)
def test_onnx_weights_outside_the_model_folder_are_refused(
    tmp_path: Path, location: str, refusal: str
) -> None:
    """onnxruntime 1.32 validates external data paths itself; the app relies on that (and
    this test keeps relying honest). The weights really are there, so only the check stops
    the load."""
    model = with_external_data_at(TINY_EMBEDDING_MODEL, tmp_path / "models" / "tiny", location)
    shutil.copy(model / "onnx" / "model_q4.onnx_data", tmp_path / "models" / "outside.data")
    (model / "onnx" / "model_q4.onnx_data").unlink()

    with pytest.raises(ModelError) as raised:
        OnnxEmbedder(model, threads=1)

    assert raised.value.path == model / model_files.EMBEDDING_GRAPH
    assert "cannot be loaded by onnxruntime" in raised.value.reason
    assert refusal in raised.value.reason


def test_a_refused_model_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    model = with_external_data_at(TINY_EMBEDDING_MODEL, tmp_path / "m" / "t", "../../outside.data")
    done = run_cli(tmp_path / "library", "--embedding-model", str(model), "embed", "hello")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "escapes model directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_same_model_with_its_weights_beside_it_loads(tmp_path: Path) -> None:
    """Control: the rewriting itself is sound."""
    model = with_external_data_at(TINY_EMBEDDING_MODEL, tmp_path / "copy", "model_q4.onnx_data")
    OnnxEmbedder(model, threads=1).close()


# --- GGUF chat templates -------------------------------------------------------------------

MESSAGES = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"


def hostile_templates(marker: Path) -> dict[str, str]:
    """Templates that try to reach Python: each would run `touch marker` or leak internals."""
    touch = f"'touch {marker}'"
    return {
        "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}" + MESSAGES,
        "globals through cycler": "{{ cycler.__init__.__globals__.os.system("
        + touch
        + ") }}"
        + MESSAGES,
        "globals through lipsum": "{{ lipsum.__globals__['os'].popen("
        + touch
        + ").read() }}"
        + MESSAGES,
        "attribute of a message": "{% for m in messages %}"
        "{{ m.content.__class__.__base__.__subclasses__() }}{% endfor %}",
        "mutating the conversation": "{% set _ = messages.append({'role': 'system', "
        "'content': 'injected'}) %}" + MESSAGES,
        "attributes through str.format": "{{ '{0.__class__.__mro__}'.format(messages) }}"
        + MESSAGES,
        "a billion iterations": "{% for i in range(10**9) %}x{% endfor %}" + MESSAGES,
    }


@pytest.mark.parametrize(
    "name",
    list(hostile_templates(Path("m"))),
)
def test_a_template_that_reaches_for_python_is_refused(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "template-ran-code"
    gguf = with_chat_template(
        TINY_CHAT_MODEL, tmp_path / "chat.gguf", hostile_templates(marker)[name]
    )

    with pytest.raises(ModelError) as raised:
        read_chat_template(gguf)
    with pytest.raises(ModelError):
        LlamaGenerator(gguf, context_tokens=512, threads=1)

    assert "has a chat template that cannot be rendered" in raised.value.reason
    assert "SecurityError" in raised.value.reason or "MAX_RANGE" in raised.value.reason
    assert not marker.exists()


@pytest.mark.parametrize(
    "probe",
    [
        "{{ raise_exception.__globals__ }}",  # the one function the formatter passes in
        "{{ messages.__class__ }}{{ self.__dict__ }}",
    ],
)
def test_internals_render_as_nothing(tmp_path: Path, probe: str) -> None:
    """Some lookups are not errors in the sandbox but render as empty: nothing leaks."""
    gguf = with_chat_template(TINY_CHAT_MODEL, tmp_path / "chat.gguf", probe + MESSAGES)
    generator = LlamaGenerator(gguf, context_tokens=512, threads=1)
    try:
        prompt = generator._formatter(messages=[{"role": "user", "content": "hi"}]).prompt
    finally:
        generator.close()
    assert prompt == "<user>hi<assistant>"


def test_the_rewritten_gguf_is_sound(tmp_path: Path) -> None:
    """Control: the same rewriting with a plain template loads, renders and generates."""
    gguf = with_chat_template(TINY_CHAT_MODEL, tmp_path / "chat.gguf", MESSAGES)
    assert read_chat_template(gguf) == MESSAGES
    generator = LlamaGenerator(gguf, context_tokens=512, threads=1)
    try:
        messages = [{"role": "user", "content": "hi"}]
        assert generator._formatter(messages=messages).prompt == "<user>hi<assistant>"
        assert generator.count_chat_tokens(messages) > 0
    finally:
        generator.close()


# --- SHA-256 sums ----------------------------------------------------------------------------


@pytest.fixture()
def installed_models() -> Path:
    """The tiny models installed where a download puts them, their sums recorded."""
    from embeddinggemma_rag.core.models import model_store

    root = paths.models_dir()
    shutil.copytree(TINY_EMBEDDING_MODEL, root / EMBEDDING_MODEL_DIR_NAME)
    shutil.copy(TINY_CHAT_MODEL, root / GENERATOR_MODEL_FILE_NAME)
    manifest = model_store.load_manifest()
    sums = {}
    for spec in manifest.models():
        for file in spec.files:
            local = root / spec.local_key(file)
            if local.is_file():
                sums[spec.local_key(file)] = {"sha256": model_files.file_sha256(local)}
    model_store.write_checksums(root, sums)
    return root


def flip_a_byte_in_place(path: Path) -> None:
    """Same size; the modification time put back, as a careful tamperer would."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_verify_finds_a_tampered_model_file(installed_models: Path) -> None:
    from embeddinggemma_rag.core.models import model_store

    statuses = {s.kind: s for s in model_store.verify_models(Settings())}
    assert [statuses[k].checksum for k in ("embedding", "generator")] == ["ok", "ok"]

    weights = installed_models / EMBEDDING_MODEL_DIR_NAME / "onnx" / "model_q4.onnx_data"
    flip_a_byte_in_place(weights)

    statuses = {s.kind: s for s in model_store.verify_models(Settings())}
    assert statuses["embedding"].checksum == "mismatch"
    assert str(weights) in statuses["embedding"].problem
    assert "SHA-256" in statuses["embedding"].problem
    assert statuses["generator"].checksum == "ok"

    done = run_cli(Path("unused"), "models", "verify", default_models=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert str(weights) in done.stderr


def test_the_engine_refuses_a_tampered_model_before_using_it(installed_models: Path) -> None:
    flip_a_byte_in_place(
        installed_models / EMBEDDING_MODEL_DIR_NAME / "onnx" / "model_q4.onnx_data"
    )
    engine = build_engine(Settings(threads=1))
    try:
        with pytest.raises(ModelError, match="SHA-256"):
            _ = engine.embedder
    finally:
        engine.close()
