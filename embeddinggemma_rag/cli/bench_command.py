"""The `bench` command: how fast this machine indexes and answers with the configured models."""

from __future__ import annotations

import argparse
import sys

from embeddinggemma_rag.cli.output import print_json


def cmd_bench(args: argparse.Namespace) -> int:
    from embeddinggemma_rag.cli.commands import settings_from
    from embeddinggemma_rag.cli.model_commands import stay_offline
    from embeddinggemma_rag.core.engine import format_bench_report, run_bench

    stay_offline()
    settings = settings_from(args)
    # Progress goes to stderr, so `--json` output stays one clean document on stdout.
    result = run_bench(settings, report=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print_json(result.to_json())
    else:
        print(format_bench_report(result))
    return 0
