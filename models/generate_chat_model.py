"""Generate a seeded random-weight chat GGUF: tiny llama for tests, Gemma-3-1B for benchmarks."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

from models import tokenizer_builder as tb

log = logging.getLogger("generate_chat_model")

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = REPO_ROOT / "models" / "generated" / "_tools"  # git-ignored, like all full-size output

# Tiny llama: ~0.5 MB of f32 weights, enough for llama.cpp to load, template and stream.
TINY = dict(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128, context_length=4096)

# google/gemma-3-1b-it's text configuration (the size, speed and memory of the real model).
GEMMA3_1B = dict(
    vocab_size=262144,
    hidden_size=1152,
    intermediate_size=6912,
    num_hidden_layers=26,
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=256,
    query_pre_attn_scalar=256,
    sliding_window=512,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    hidden_activation="gelu_pytorch_tanh",
    tie_word_embeddings=True,
)


def _gguf_token_types(tokens: list[str]) -> list[TokenType]:
    types = []
    for token in tokens:
        if token == tb.UNK:
            types.append(TokenType.UNKNOWN)
        elif token in tb.SPECIAL_TOKENS:
            types.append(TokenType.CONTROL)
        elif token in tb.BYTE_TOKENS:
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    return types


def write_tiny(out: Path, seed: int) -> None:
    """A llama-architecture GGUF with a SentencePiece-style byte-fallback vocabulary.

    The vocabulary is Gemma's special tokens, the 256 byte tokens and single characters only,
    so any text (and any byte sequence) can be tokenised and generated.
    """
    tokens = tb.fixed_tokens()
    rng = np.random.default_rng(seed)
    n_embd, n_ff = TINY["n_embd"], TINY["n_ff"]
    head_dim = n_embd // TINY["n_head"]
    n_kv = head_dim * TINY["n_head_kv"]
    n_vocab = len(tokens)

    def weight(*shape: int) -> np.ndarray:
        # Std 0.02 like transformers' init: near-uniform logits, i.e. random but valid text.
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")  # readers never see half a file
    writer = GGUFWriter(str(partial), "llama")
    writer.add_name("tiny-random-chat")
    writer.add_context_length(TINY["context_length"])
    writer.add_embedding_length(n_embd)
    writer.add_block_count(TINY["n_layer"])
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(TINY["n_head"])
    writer.add_head_count_kv(TINY["n_head_kv"])
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    # SentencePiece merges by score; with single characters only, scores just rank them.
    writer.add_token_scores(
        [0.0 if t in tb.SPECIAL_TOKENS else -float(i) for i, t in enumerate(tokens)]
    )
    writer.add_token_types(_gguf_token_types(tokens))
    writer.add_pad_token_id(tokens.index(tb.PAD))
    writer.add_eos_token_id(tokens.index(tb.EOS))
    writer.add_bos_token_id(tokens.index(tb.BOS))
    writer.add_unk_token_id(tokens.index(tb.UNK))
    writer.add_eot_token_id(tokens.index(tb.END_OF_TURN))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)  # Gemma does not prepend a space
    writer.add_chat_template(tb.GEMMA_CHAT_TEMPLATE)

    # Residual dimension 0 is a constant that no layer writes to, so after the final norm it
    # acts as a bias input: the output matrix uses it to favour letters and spaces, making the
    # random model "write" word-like text instead of control bytes (nicer in UI tests).
    token_embd = weight(n_vocab, n_embd)
    token_embd[:, 0] = 1.0
    output = weight(n_vocab, n_embd)
    output[:, 0] = [_output_bias(t) for t in tokens]
    writer.add_tensor("token_embd.weight", token_embd)
    for layer in range(TINY["n_layer"]):
        prefix = f"blk.{layer}"
        attn_output, ffn_down = weight(n_embd, n_embd), weight(n_embd, n_ff)
        attn_output[0, :] = 0.0
        ffn_down[0, :] = 0.0
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(n_kv, n_embd))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(n_kv, n_embd))
        writer.add_tensor(f"{prefix}.attn_output.weight", attn_output)
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"{prefix}.ffn_down.weight", ffn_down)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)


def _output_bias(token: str) -> float:
    """Weight on the constant residual dimension (about 8 after the norm) for each token."""
    if token == tb.SPACE:
        return 0.7  # about one token in ten: word-length runs of letters
    if token.isalpha():
        return 0.5
    if len(token) == 1 and token.isprintable():
        return 0.2
    if token in (tb.EOS, tb.END_OF_TURN):
        return 0.0  # can end a reply, but rarely before max_tokens
    return -0.5


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    log.info("running: %s", " ".join(cmd))
    subprocess.run(cmd, check=True, env=env)


def ensure_sentencepiece() -> Path:
    """Make `sentencepiece` importable without touching the project venv.

    The full model's tokenizer is a SentencePiece file (what llama.cpp's converter reads for
    Gemma 3); the package is needed only here, so it goes into the git-ignored tools folder.
    """
    site = TOOLS_DIR / "site"
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site)]
        _run([*pip, "sentencepiece"])
        # The folder did not exist at the failed import: drop the cached "nothing here" finder.
        sys.path_importer_cache.pop(str(site), None)
        importlib.invalidate_caches()
    return site


def llama_cpp_source(explicit: Path | None) -> Path:
    """llama.cpp's converter from the llama-cpp-python sdist matching the installed version."""
    if explicit is not None:
        return explicit
    import llama_cpp

    version = llama_cpp.__version__
    root = TOOLS_DIR / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (root / "convert_hf_to_gguf.py").is_file():
        return root
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    archive = TOOLS_DIR / f"llama_cpp_python-{version}.tar.gz"
    if not archive.is_file():
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={version}",
                "-d",
                str(TOOLS_DIR),
            ]
        )
    wanted = (
        f"llama_cpp_python-{version}/vendor/llama.cpp/convert_hf_to_gguf.py",
        f"llama_cpp_python-{version}/vendor/llama.cpp/conversion/",
        f"llama_cpp_python-{version}/vendor/llama.cpp/gguf-py/",
    )
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(wanted)]
        tar.extractall(TOOLS_DIR, members=members, filter="data")
    return root


def write_sentencepiece_model(path: Path, tokens: list[str]) -> None:
    """A SentencePiece BPE model proto over our generated vocabulary, laid out like Gemma's."""
    from sentencepiece import sentencepiece_model_pb2 as spm

    proto = spm.ModelProto()
    piece_type = {
        TokenType.NORMAL: spm.ModelProto.SentencePiece.NORMAL,
        TokenType.UNKNOWN: spm.ModelProto.SentencePiece.UNKNOWN,
        TokenType.CONTROL: spm.ModelProto.SentencePiece.CONTROL,
        TokenType.BYTE: spm.ModelProto.SentencePiece.BYTE,
    }
    for rank, (token, kind) in enumerate(zip(tokens, _gguf_token_types(tokens), strict=True)):
        piece = proto.pieces.add()
        piece.piece = token
        piece.type = piece_type[kind]
        # Earlier merges win, as in BPE: a higher score for a lower rank.
        piece.score = -float(rank) if kind == TokenType.NORMAL else 0.0
    spec = proto.trainer_spec
    spec.model_type = spm.TrainerSpec.BPE
    spec.vocab_size = len(tokens)
    spec.byte_fallback = True
    spec.pad_id, spec.eos_id, spec.bos_id, spec.unk_id = (
        tokens.index(t) for t in (tb.PAD, tb.EOS, tb.BOS, tb.UNK)
    )
    spec.pad_piece, spec.eos_piece, spec.bos_piece, spec.unk_piece = tb.PAD, tb.EOS, tb.BOS, tb.UNK
    norm = proto.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = False
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = True
    path.write_bytes(proto.SerializeToString())


def write_hf_checkpoint(directory: Path, seed: int) -> None:
    """Random Gemma3ForCausalLM (real 1B config) + SentencePiece tokenizer, as on the Hub."""
    import torch
    from sentencepiece import SentencePieceProcessor
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    directory.mkdir(parents=True, exist_ok=True)
    tokens, _ = tb.build_vocab(int(GEMMA3_1B["vocab_size"]), seed)
    write_sentencepiece_model(directory / "tokenizer.model", tokens)
    check = SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
    log.info(
        "tokenizer.model: %d pieces, sample %s",
        check.vocab_size(),
        check.encode("Hello world, how are you?", out_type=str),
    )
    tb.write_json(
        directory / "tokenizer_config.json",
        tb.tokenizer_config(tb.GEMMA_CHAT_TEMPLATE, add_eos_token=False),
    )

    config = Gemma3TextConfig(
        **GEMMA3_1B,  # type: ignore[arg-type]
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        architectures=["Gemma3ForCausalLM"],
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config).to(torch.bfloat16)  # bf16: half the disk, same as the Hub
    model.save_pretrained(directory)
    del model


def quantize_gguf(source: Path, target: Path, ftype: int, threads: int) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), llama_cpp.byref(params)
    )
    if status != 0:
        raise RuntimeError(f"llama_model_quantize failed with status {status}")


def write_full(out: Path, seed: int, llama_src: Path | None, threads: int) -> dict[str, float]:
    """HF checkpoint -> llama.cpp's convert_hf_to_gguf.py (f16) -> Q4_K_M, as for the real file."""
    import llama_cpp

    timings: dict[str, float] = {}
    site = ensure_sentencepiece()
    converter_root = llama_cpp_source(llama_src)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".chat-build-") as tmp:
        checkpoint = Path(tmp) / "gemma-3-1b-random"  # the converter names the model after it
        t0 = time.monotonic()
        write_hf_checkpoint(checkpoint, seed)
        timings["checkpoint_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        f16 = Path(tmp) / "model-f16.gguf"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
        _run(
            [
                sys.executable,
                str(converter_root / "convert_hf_to_gguf.py"),
                str(checkpoint),
                "--outfile",
                str(f16),
                "--outtype",
                "f16",
            ],
            env=env,
        )
        timings["convert_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        quantize_gguf(f16, partial, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, threads)
        partial.replace(out)
        timings["quantize_s"] = time.monotonic() - t0
    return timings


def smoke_test(path: Path, threads: int, n_ctx: int = 2048) -> dict[str, object]:
    """Load with llama-cpp-python, read the template, stream a reply; measure speeds."""
    import llama_cpp

    t0 = time.monotonic()
    llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=threads, seed=0, verbose=False)
    result: dict[str, object] = {"load_s": time.monotonic() - t0}
    try:
        result["chat_template_in_metadata"] = "tokenizer.chat_template" in llm.metadata
        messages = [
            {"role": "system", "content": "Answer from the documents."},
            {"role": "user", "content": "What does the contract say about the notice period?"},
        ]
        t0 = time.monotonic()
        first_chunk_s = None
        chunks = 0
        text = []
        stream = llm.create_chat_completion(messages, stream=True, max_tokens=32, temperature=0.0)
        for chunk in stream:
            if first_chunk_s is None:
                first_chunk_s = time.monotonic() - t0
            chunks += 1
            text.append(chunk["choices"][0]["delta"].get("content") or "")
        result.update(chunks=chunks, first_chunk_s=first_chunk_s, sample="".join(text)[:80])

        # Raw speeds: a 512-token prompt, then 64 generated tokens (no early stop).
        prompt = llm.tokenize(("word " * 600).encode())[:512]
        llm.reset()
        t0 = time.monotonic()
        llm.eval(prompt)
        result["prompt_tokens_per_s"] = len(prompt) / (time.monotonic() - t0)
        # reset=True keeps the evaluated prompt (common prefix), so only new tokens are timed.
        generated = 0
        t0 = time.monotonic()
        for _ in llm.generate(prompt, temp=0.0, reset=True):
            generated += 1
            if generated == 1:
                t0 = time.monotonic()  # the first token re-evaluates the last prompt token
            if generated == 65:
                break
        result["generate_tokens_per_s"] = (generated - 1) / (time.monotonic() - t0)
    finally:
        llm.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=("tiny", "full"), required=True)
    parser.add_argument("--out", type=Path, required=True, help="GGUF file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--llama-cpp-src",
        type=Path,
        default=None,
        help="llama.cpp source tree holding convert_hf_to_gguf.py (default: the sdist of the "
        "installed llama-cpp-python, downloaded into models/generated/_tools)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the llama-cpp-python test")
    parser.add_argument(
        "--check-only", action="store_true", help="only load and time an existing --out file"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    report: dict[str, object] = {"size": args.size, "seed": args.seed}
    t0 = time.monotonic()
    if args.check_only:
        pass
    elif args.size == "tiny":
        write_tiny(args.out, args.seed)
    else:
        report["timings"] = write_full(args.out, args.seed, args.llama_cpp_src, args.threads)
    report["total_s"] = time.monotonic() - t0
    report["bytes"] = args.out.stat().st_size
    if not args.no_check:
        report["check"] = smoke_test(args.out, args.threads)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
