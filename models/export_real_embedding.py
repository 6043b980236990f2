"""Export the real google/embeddinggemma-300m checkpoint to the app's published ONNX layout.

The input is the sentence-transformers checkpoint as `../shared/real-models/fetch.sh` lays it
out (config.json + model.safetensors of the Gemma3 encoder, 2_Dense/, 3_Dense/, the real
262,144-token tokenizer.json). The output is the layout the app loads and `models import`
takes: `onnx/model.onnx` (+ `.onnx_data`, fp32), `onnx/model_q4.onnx` + `model_q4.onnx_data`
(the 4-bit graph, < 200 MB), `tokenizer.json`, the JSON configs, and `reference_vectors.json`:
sentence-transformers' own vectors for real texts in several languages at 8 to 2,048 tokens,
which the real test tier (`pytest -m real`) compares the app against.

    .venv/bin/python -m models.export_real_embedding --out models/generated/embeddinggemma-real

Nothing written here is committed or shipped: the app downloads the published model itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import Gemma3TextConfig

from models import generate_embedding_model as gen
from models import quantization
from models.real_texts import reference_inputs

log = logging.getLogger("export_real_embedding")

DEFAULT_CHECKPOINT = Path.home() / ".cache/embeddinggemma-rag/real-models/embeddinggemma-300m"
_CONFIG_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config_sentence_transformers.json",
)


def load_checkpoint(checkpoint: Path) -> gen.SentenceEmbedder:
    """The exporter's own module (encoder, pooling, Dense, Dense, normalise) with real weights."""
    config = Gemma3TextConfig.from_pretrained(str(checkpoint))
    config._attn_implementation = "eager"  # what the exporter traces; SDPA gives the same
    config.use_cache = False
    dense_hidden = json.loads((checkpoint / "2_Dense/config.json").read_text())["out_features"]
    model = gen.SentenceEmbedder(config, dense_hidden)
    encoder_state = load_file(str(checkpoint / "model.safetensors"))
    missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
    if unexpected or [k for k in missing if "rotary" not in k]:
        raise SystemExit(f"checkpoint does not fit: missing {missing}, unexpected {unexpected}")
    for layer, folder in ((model.dense1, "2_Dense"), (model.dense2, "3_Dense")):
        layer.weight.data.copy_(
            load_file(str(checkpoint / folder / "model.safetensors"))["linear.weight"]
        )
    return model.eval()


def sentence_transformers_vectors(checkpoint: Path, inputs: list[dict[str, object]]) -> np.ndarray:
    """The reference: sentence-transformers itself on the checkpoint, fp32, one text at a time."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(checkpoint), device="cpu", local_files_only=True)
    vectors = []
    for item in inputs:
        # The model card's own prompts: `query`, and `document` ("title: none | text: "); a
        # titled document has no named prompt, so its prompt is spelled out as the card does.
        title = item["title"]
        if title:
            prompt = {"prompt": f"title: {title} | text: "}
        else:
            prompt = {"prompt_name": str(item["prompt_name"])}
        vector = model.encode(str(item["text"]), normalize_embeddings=True, **prompt)
        if (
            not title
            and model.prompts[str(item["prompt_name"])] + str(item["text"]) != item["input"]
        ):
            raise SystemExit(f"the model card's prompt differs from ours: {item['id']}")
        vectors.append(vector)
    return np.array(vectors, dtype=np.float64)


def export(checkpoint: Path, out: Path, recipe: str, reference: bool) -> dict[str, object]:
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        report = _export_into(work, checkpoint, recipe, reference)
        for path in [work, *work.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        gen._replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return report


def _export_into(work: Path, checkpoint: Path, recipe: str, reference: bool) -> dict[str, object]:
    started = time.monotonic()
    (work / "onnx").mkdir()
    for name in _CONFIG_FILES:
        shutil.copy2(checkpoint / name, work / name)
    model = load_checkpoint(checkpoint)
    fp32 = work / "onnx" / "model.onnx"
    gen.export_onnx(model, fp32, external=True)
    log.info("fp32 exported in %.0f s", time.monotonic() - started)
    q4 = work / "onnx" / "model_q4.onnx"
    quantization.quantize(fp32, q4, recipe)
    report: dict[str, object] = {"recipe": recipe, "q4_mb": quantization.model_mb(q4)}
    if reference:
        tokenizer = Tokenizer.from_file(str(work / "tokenizer.json"))
        inputs = reference_inputs(tokenizer)
        expected = sentence_transformers_vectors(checkpoint, inputs)
        _write_reference(work / "reference_vectors.json", inputs, expected)
        report["fp32"] = quantization.fidelity(fp32, tokenizer, inputs, expected)
        report["q4"] = quantization.fidelity(q4, tokenizer, inputs, expected)
    report["seconds"] = round(time.monotonic() - started)
    return report


def write_reference(folder: Path, checkpoint: Path) -> dict[str, object]:
    """Only the reference vectors (and fidelity) of an existing export, e.g. after new texts."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    inputs = reference_inputs(tokenizer)
    expected = sentence_transformers_vectors(checkpoint, inputs)
    _write_reference(folder / "reference_vectors.json", inputs, expected)
    return {
        "fp32": quantization.fidelity(folder / "onnx/model.onnx", tokenizer, inputs, expected),
        "q4": quantization.fidelity(folder / "onnx/model_q4.onnx", tokenizer, inputs, expected),
    }


def _write_reference(path: Path, inputs: list[dict[str, object]], vectors: np.ndarray) -> None:
    items = [
        {**item, "vector": [round(float(x), 7) for x in vector]}
        for item, vector in zip(inputs, vectors, strict=True)
    ]
    header = {
        "description": "sentence-transformers vectors of the real checkpoint (fp32, 768-d)",
        "dimension": 768,
        "decimals": 7,
    }
    gen.write_reference_vectors(path, header, items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--recipe", choices=sorted(quantization.RECIPE_NAMES), default=quantization.RECOMMENDED
    )
    parser.add_argument("--no-reference", action="store_true", help="skip sentence-transformers")
    parser.add_argument(
        "--reference-only", action="store_true", help="only (re)write reference_vectors.json"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(os.cpu_count() or 1)
    if args.reference_only:
        report = write_reference(args.out, args.checkpoint)
    else:
        report = export(args.checkpoint, args.out, args.recipe, not args.no_reference)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
