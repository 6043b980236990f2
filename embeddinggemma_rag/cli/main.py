"""Argument parsing and dispatch for `embeddinggemma-rag`; user mistakes never show a traceback."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from embeddinggemma_rag import APP_NAME, __version__
from embeddinggemma_rag.core.records import MATRYOSHKA_DIMENSIONS, SEARCH_MODES, Cancelled, RagError

PROG = "embeddinggemma-rag"


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line on stderr, then exits with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # On subcommands the defaults are suppressed so an option given before the command
    # is not overwritten by the subcommand's default.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        metavar="DIR",
        help="the library folder (env EMBEDDINGGEMMA_RAG_DATA_DIR; "
        "default: the per-user data folder)",
    )
    parser.add_argument(
        "--embedding-model",
        type=Path,
        default=default,
        metavar="PATH",
        help="embedding model folder in the published layout "
        "(env EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL)",
    )
    parser.add_argument(
        "--generator-model",
        type=Path,
        default=default,
        metavar="PATH",
        help="generator model, a .gguf file (env EMBEDDINGGEMMA_RAG_GENERATOR_MODEL)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=f"{APP_NAME}: ask questions about your documents, "
        "answered offline from cited passages.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, suppress=True)
        return sub

    command("gui", "open the desktop app (the default)")
    ingest = command("ingest", "add files or folders to the library, or bring them up to date")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--json", action="store_true", help="print one JSON report")
    remove = command("remove", "forget files or folders (they stay on disk)")
    remove.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    search = command("search", "find passages for a query")
    search.add_argument("query", metavar="QUERY")
    _retrieval_options(search)
    search.add_argument("--mode", choices=SEARCH_MODES, help="default: hybrid")
    search.add_argument("--json", action="store_true", help="print one JSON document")

    ask = command("ask", "answer a question from the library, with sources")
    ask.add_argument("question", metavar="QUESTION")
    _retrieval_options(ask)
    ask.add_argument("--json", action="store_true", help="print one JSON document")

    embed = command("embed", "print embedding vectors for texts")
    embed.add_argument("texts", nargs="+", metavar="TEXT")
    embed.add_argument(
        "--prompt",
        default="document",
        metavar="query|document|NAME",
        help="the model's prompt to use (default: document)",
    )
    embed.add_argument("--title", help="document title for the document prompt")
    embed.add_argument(
        "--dim",
        type=int,
        default=768,
        choices=MATRYOSHKA_DIMENSIONS,
        help="Matryoshka dimension (default: 768)",
    )
    embed.add_argument("--json", action="store_true", help="print one JSON document")

    status = command("status", "what the library holds")
    status.add_argument("--json", action="store_true", help="print one JSON document")

    command(
        "mcp",
        "serve the library to MCP clients (assistants, editors) over stdio, read-only",
    )

    models = command("models", "list, download, verify or import models")
    actions = models.add_subparsers(
        dest="models_command", metavar="ACTION", required=True, parser_class=_Parser
    )
    actions.add_parser("list", help="what is configured and present")
    download = actions.add_parser("download", help="fetch the default models (uses the network)")
    download.add_argument("--token", help="Hugging Face token for gated repositories")
    download.add_argument("--which", choices=("all", "embedding", "generator"), default="all")
    actions.add_parser("verify", help="check the models' files against their SHA-256 sums")
    import_ = actions.add_parser("import", help="use model files you already have")
    import_.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="an embedding model folder or a .gguf generator file",
    )

    command("recover", "move a damaged library database aside and start an empty one")
    command("self-test", "ingest a built-in sample, search it and answer a question")
    bench = command("bench", "measure indexing and answering speed on this machine")
    bench.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _retrieval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", type=int, metavar="N", help="passages to retrieve (default: 6)")
    parser.add_argument(
        "--scope", type=Path, metavar="PATH", help="only search under this folder or file"
    )


def main(argv: Sequence[str] | None = None) -> int:
    # The parser sandbox spawns a child process; a frozen app must hand such children over here.
    multiprocessing.freeze_support()
    args = build_parser().parse_args(argv)
    from embeddinggemma_rag.cli import commands  # after parsing: --help stays instant

    try:
        return commands.run(args)
    except Cancelled:
        print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `status | head` closed the pipe: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except RagError as error:
        print(f"{PROG}: error: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
