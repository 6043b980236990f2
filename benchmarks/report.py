"""The results as JSON and as one Markdown table, with the machine and the command."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import Row, Section


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
    lines = [
        f"Measured {header['finished']} on {machine['cpu']} "
        f"({machine['physical_cores']} cores, {', '.join(machine['flags'])}; "
        f"{machine['memory_gb']} GB), {header['threads']} threads; load average "
        f"{header['load_before']} before, {header['load_after']} after; "
        f"{header['minutes']:.1f} min. Command: `{command}`.",
        "",
        "| measurement | ours | peer | ours vs peer | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for section in sections:
        for row in section.rows:
            lines.append(_row(row))
    return "\n".join(lines) + "\n"


def _row(row: Row) -> str:
    ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
    met = {True: "met", False: "**missed**", None: ""}[row.met]
    cells = [row.measurement, row.ours, row.peer, ratio, row.goal, met]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
