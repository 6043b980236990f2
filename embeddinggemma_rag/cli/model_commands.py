"""The `ask`, `models` and `self-test` commands: answers with sources, and the model files."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from embeddinggemma_rag.cli.output import print_json
from embeddinggemma_rag.core.engine import (
    answer_json,
    build_engine,
    download_models,
    import_model,
    list_models,
    load_settings,
    run_self_test,
    settings_file,
    verify_models,
)
from embeddinggemma_rag.core.records import (
    Answer,
    CancelToken,
    ModelStatus,
    Progress,
    RagError,
    Settings,
)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        embedding_model=getattr(args, "embedding_model", None),
        generator_model=getattr(args, "generator_model", None),
    )


def stay_offline() -> None:
    """huggingface-hub reads this once, at import: set it before anything imports it (the
    engine imports it only when a model is downloaded, so importing the engine is safe)."""
    os.environ["HF_HUB_OFFLINE"] = "1"


# ask -------------------------------------------------------------------------------------


def cmd_ask(args: argparse.Namespace) -> int:
    stay_offline()
    engine = build_engine(_settings(args))
    # Ctrl-C stops the answer through the cancel token: a KeyboardInterrupt raised inside
    # llama.cpp's abort callback would only be printed and ignored by ctypes.
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        on_token = None if args.json else _write_token
        answer = engine.ask(
            args.question, k=args.k, scope=args.scope, cancel=cancel, on_token=on_token
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.close()
    if args.json:
        print_json(answer_json(answer))
    else:
        _print_sources(answer)
    return 130 if answer.cancelled else 0


def _write_token(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _print_sources(answer: Answer) -> None:
    if not answer.grounded:
        print(answer.text)
        if answer.passages:  # an empty library or scope has none to list
            print("\nClosest passages:")
        for rank, hit in enumerate(answer.passages, 1):
            page = f", page {hit.page}" if hit.page else ""
            similarity = f" (similarity {hit.similarity:.2f})" if hit.similarity is not None else ""
            print(f"  {rank}. {hit.path}{page}{similarity}")
        return
    print(" [stopped]" if answer.cancelled else "")  # the streamed answer has no newline
    if answer.citations:
        print("\nSources:")
        for citation in answer.citations:
            page = f", page {citation.hit.page}" if citation.hit.page else ""
            print(f"  [{citation.number}] {citation.hit.path}{page}")
    else:
        print("\n(The answer cites no passage.) Passages given to the model:")
        for number, hit in enumerate(answer.passages, 1):
            page = f", page {hit.page}" if hit.page else ""
            print(f"  [{number}] {hit.path}{page}")


# models ----------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    if args.models_command != "download":
        stay_offline()
    settings = _settings(args)
    action = args.models_command
    if action == "list":
        _print_statuses(list_models(settings))
        return 0
    if action == "verify":
        statuses = verify_models(settings)
        _print_statuses(statuses)
        problems = [s.problem for s in statuses if not s.ok]
        if problems:
            raise RagError(problems[0])
        print("all models verified")
        return 0
    if action == "import":
        status = import_model(settings, args.path)
        print(
            f"using {status.path} as the {status.kind} model; recorded in {settings_file()} "
            "(the files stay where they are, nothing was copied)"
        )
        return 0
    meter = _DownloadMeter()
    statuses = download_models(
        settings,
        which=args.which,
        token=args.token,
        progress=meter.update,
        cancel=CancelToken(),
        endpoint=os.environ.get("HF_ENDPOINT") or None,
    )
    meter.clear()
    _print_statuses(statuses)
    return 0


def _print_statuses(statuses: list[ModelStatus]) -> None:
    for status in statuses:
        state = "ok" if status.ok else ("missing" if not status.present else "problem")
        where = "configured" if status.configured else "default"
        size = f"{status.size_bytes / 1e6:8.1f} MB" if status.present else " " * 11
        print(
            f"{status.kind:9} {state:8} {size}  sha256 {status.checksum:8}  {status.path} ({where})"
        )
        if status.problem:
            print(f"          {status.problem}")


class _DownloadMeter:
    """A byte counter redrawn on a terminal, one line per file elsewhere."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.name = ""

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.message != self.name:
            self.name = progress.message
            if not self.tty:
                print(f"downloading {self.name}", file=sys.stderr, flush=True)
        if not self.tty or now - self.last < 0.2:
            return
        self.last = now
        total = max(progress.total, 1)
        line = (
            f"\r{progress.done / 1e6:9.1f} of {progress.total / 1e6:.1f} MB "
            f"({100 * progress.done / total:5.1f} %) {self.name[-50:]}"
        )
        sys.stderr.write(line.ljust(100))
        sys.stderr.flush()

    def clear(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


# self-test -------------------------------------------------------------------------------


def cmd_self_test(args: argparse.Namespace) -> int:
    stay_offline()
    run_self_test(_settings(args), report=lambda line: print(line, flush=True))
    print("self-test passed")
    return 0
