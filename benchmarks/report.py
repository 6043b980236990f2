"""The results as JSON and as one Markdown table, with the machine and the command."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import Row, Section

# Above this load per core a machine is not quiet: ratios against peers that spin mislead.
QUIET_LOAD_PER_CORE = 0.75


def write(
    out: Path, sections: list[Section], header: dict[str, Any], command: str
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    document = {**header, "command": command, "sections": [asdict(s) for s in sections]}
    text = json.dumps(document, indent=1, default=str)
    markdown = render(sections, header, command)
    for name in (f"results-{stamp}", "latest"):
        (out / f"{name}.json").write_text(text, encoding="utf-8")
        (out / f"{name}.md").write_text(markdown, encoding="utf-8")
    return out / "latest.json", out / "latest.md"


def render(sections: list[Section], header: dict[str, Any], command: str) -> str:
    machine = header["machine"]
    quiet = QUIET_LOAD_PER_CORE * machine["physical_cores"]
    lines = [
        f"Measured {header['finished']} on {machine['cpu']} "
        f"({machine['physical_cores']} cores, {', '.join(machine['flags'])}; "
        f"{machine['memory_gb']} GB), {header['threads']} threads; load average "
        f"{header['load_before']} before, {header['load_after']} after; "
        f"{header['minutes']:.1f} min; embedding weights "
        f"{machine.get('embedding_weights', 'random (generated)')}. Command: `{command}`. "
        f"Rows marked *load N* were taken above a load of {quiet:g}: not a quiet machine, "
        "and a peer whose threads spin (torch, llama.cpp) loses more than onnxruntime there.",
        "",
        "| measurement | ours | peer | ours vs peer | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for section in sections:
        loads = [section.details.get(k, [0.0])[0] for k in ("load_before", "load_after")]
        busy = max(loads) > quiet
        for row in section.rows:
            lines.append(_row(row, f" *load {max(loads):g}*" if busy else ""))
    return "\n".join(lines) + "\n"


def _row(row: Row, mark: str = "") -> str:
    ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
    met = {True: "met", False: "**missed**", None: ""}[row.met]
    cells = [row.measurement + mark, row.ours, row.peer, ratio, row.goal, met]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
