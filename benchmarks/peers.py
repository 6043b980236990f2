"""The peers' copies of our benchmark model: the same random weights for sentence-transformers
(torch fp32) and for llama.cpp (GGUF through its own converter)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.common import CACHE, FULL_EMBEDDING, REAL_CHECKPOINT, log, uses_real_weights

SEED = 0  # the generator's default: the ONNX files in FULL_EMBEDDING came from this seed
ST_DIR = CACHE / "peers" / "st-embeddinggemma-random"
GGUF_SRC = CACHE / "peers" / "gguf-src"


def gguf_path(kind: str) -> Path:
    return CACHE / "peers" / f"embeddinggemma-random-{kind}.gguf"


def _stamp() -> str:
    """Names the generated ONNX model: the peers' copies are rebuilt when it is regenerated."""
    data = FULL_EMBEDDING / "onnx" / "model_q4.onnx_data"
    stat = data.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def _fresh() -> bool:
    stamp = CACHE / "peers" / "STAMP"
    if stamp.exists() and stamp.read_text() == _stamp():
        return True
    shutil.rmtree(CACHE / "peers", ignore_errors=True)
    stamp.parent.mkdir(parents=True)
    stamp.write_text(_stamp())
    return False


def sentence_transformers_model() -> Path:
    """A SentenceTransformer folder (Transformer, mean Pooling, Dense, Dense, Normalize) holding
    the weights the app's ONNX graph was exported from: the real checkpoint itself, or the
    random weights rebuilt from the same seed, then saved."""
    if uses_real_weights():
        return REAL_CHECKPOINT
    if _fresh() and (ST_DIR / "modules.json").exists():
        return ST_DIR
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Normalize, Pooling, Transformer

    from models.generate_embedding_model import build_model

    log("building the sentence-transformers copy of the benchmark model (seeded weights)")
    torch_model = build_model("full", SEED)
    hf_dir = CACHE / "peers" / "hf-encoder"
    torch_model.encoder.config._attn_implementation = "sdpa"  # what a user's load gets
    torch_model.encoder.save_pretrained(hf_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(FULL_EMBEDDING / name, hf_dir / name)
    hidden = torch_model.dense1.in_features
    dense1 = Dense(hidden, torch_model.dense1.out_features, bias=False, activation_function=None)
    dense2 = Dense(dense1.out_features, 768, bias=False, activation_function=None)
    with torch.no_grad():
        dense1.linear.weight.copy_(torch_model.dense1.weight)
        dense2.linear.weight.copy_(torch_model.dense2.weight)
    modules = [
        Transformer(str(hf_dir), max_seq_length=2048),
        Pooling(hidden, pooling_mode="mean"),
        dense1,
        dense2,
        Normalize(),
    ]
    model = SentenceTransformer(modules=modules, device="cpu")
    tmp = ST_DIR.with_name(ST_DIR.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    shutil.rmtree(ST_DIR, ignore_errors=True)
    tmp.rename(ST_DIR)
    return ST_DIR


def llama_cpp_model(kind: str = "Q8_0") -> Path | None:
    """The same weights converted by llama.cpp's convert_hf_to_gguf.py (arch gemma-embedding,
    Dense layers included), quantised to `kind`; None when the conversion fails."""
    target = gguf_path(kind)
    if _fresh() and target.exists():
        return target
    from models import generate_chat_model as chat
    from models import tokenizer_builder as tb

    st_dir = sentence_transformers_model()
    f32 = gguf_path("f32")
    if not f32.exists():
        site = chat.ensure_sentencepiece()
        converter = chat.llama_cpp_source(None)
        # The converter reads Gemma vocabularies from SentencePiece's tokenizer.model: one
        # is written over the same vocabulary, in a folder of links to the saved model.
        shutil.rmtree(GGUF_SRC, ignore_errors=True)
        GGUF_SRC.mkdir(parents=True)
        for item in st_dir.iterdir():
            (GGUF_SRC / item.name).symlink_to(item.resolve())
        if not uses_real_weights():  # the real checkpoint brings its own tokenizer.model
            tokens, _ = tb.build_vocab(262144, SEED)
            chat.write_sentencepiece_model(GGUF_SRC / "tokenizer.model", tokens)
            (GGUF_SRC / "tokenizer.json").unlink()  # else the converter may prefer it
            # The generator's tokenizer_config.json says add_eos_token (sentence-transformers'
            # saved copy does not): the converter reads it, so llama.cpp appends <eos> as we do.
            config = GGUF_SRC / "tokenizer_config.json"
            config.unlink()
            shutil.copyfile(FULL_EMBEDDING / "tokenizer_config.json", config)
        env = dict(os.environ, PYTHONPATH=str(site))
        command = [
            sys.executable,
            str(converter / "convert_hf_to_gguf.py"),
            str(GGUF_SRC),
            "--outfile",
            str(f32),
            "--outtype",
            "f32",
            "--sentence-transformers-dense-modules",
        ]
        log("converting the benchmark model with llama.cpp's convert_hf_to_gguf.py")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            log(f"llama.cpp conversion failed: {result.stderr.strip().splitlines()[-1:]}")
            (CACHE / "peers" / "gguf-convert.log").write_text(result.stderr)
            return None
    if kind == "f32":
        return f32
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
    chat.quantize_gguf(f32, target, ftype, threads=os.cpu_count() or 1)
    return target


def describe() -> dict[str, object]:
    real = uses_real_weights()
    st_dir = REAL_CHECKPOINT if real else ST_DIR
    info: dict[str, object] = {"weights": "real" if real else f"random, seed {SEED}"}
    info["sentence_transformers_dir"] = str(st_dir)
    modules = st_dir / "modules.json"
    if modules.exists():
        info["modules"] = [m["type"] for m in json.loads(modules.read_text())]
    return info


def same_weights_check(threads: int) -> dict[str, list[float]]:
    """Cosines between the app's fp32 ONNX graph, sentence-transformers and llama.cpp (f32),
    text by text: 1.0 proves the peers run the very weights and tokens we do. (llama.cpp reads
    the vocabulary from a SentencePiece file and may cut a word differently: a text whose
    tokens differ scores below 1 on random weights.) Each engine runs in its own process:
    torch's and llama.cpp's OpenMP runtimes hang when they share one."""
    import numpy as np

    from benchmarks.engines import EngineProcess, EngineSpec

    texts = [
        "title: none | text: The boiler restarts on its own after a short power cut.",
        "title: none | text: " + "The annual inspection is due in March. " * 40,
        "title: none | text: hello world",
    ]
    specs = {
        "onnx_fp32": EngineSpec(
            "app", str(FULL_EMBEDDING), threads, options={"graph_name": "onnx/model.onnx"}
        ),
        "sentence_transformers": EngineSpec("st", str(sentence_transformers_model()), threads),
    }
    f32 = llama_cpp_model("f32")
    if f32 is not None:
        specs["llama_cpp_f32"] = EngineSpec("llama", str(f32), threads)
    vectors = {}
    for name, spec in specs.items():
        engine = EngineProcess(spec)
        try:
            vectors[name] = engine.embed(texts)[2]
        finally:
            engine.close()
    reference = vectors.pop("sentence_transformers")
    return {
        f"{name}_vs_sentence_transformers": [
            round(float(c), 6) for c in np.sum(matrix * reference, axis=1)
        ]
        for name, matrix in vectors.items()
    }
