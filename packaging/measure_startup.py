"""Time from starting the frozen app to its main window being on screen (Linux, X11).

    python packaging/measure_startup.py dist/embeddinggemma-rag/embeddinggemma-rag [--runs 5]

Runs the app on a private Xvfb display with throw-away data and settings folders, and polls
with xdotool until a visible window titled like the app exists. Before the first ("cold")
run the app folder's files are dropped from the page cache (posix_fadvise DONTNEED, only
these files, so other programs on the machine are not disturbed); later runs are warm.
Needs `Xvfb` and `xdotool` (Debian: apt-get install xvfb xdotool).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "EmbeddingGemma RAG"


def evict_from_page_cache(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as handle:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def window_shown(env: dict[str, str]) -> bool:
    result = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", TITLE],
        env=env,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0 and bool(result.stdout.strip())


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """A private X server on a free display; -displayfd reports its number once it accepts
    clients, so nothing races its start-up or another X server."""
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1600x1000x24"]
    xvfb = subprocess.Popen([*command, "-nolisten", "tcp"], pass_fds=(write_end,))
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()
    if not number:
        raise SystemExit("Xvfb did not start")
    return xvfb, f":{number}"


def time_one_start(exe: Path, env: dict[str, str], timeout: float) -> float:
    started = time.perf_counter()
    app = subprocess.Popen([str(exe)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - started < timeout:
            if window_shown(env):
                return time.perf_counter() - started
            if app.poll() is not None:
                stderr = app.stderr.read().decode(errors="replace") if app.stderr else ""
                raise SystemExit(f"the app exited ({app.returncode}) before showing:\n{stderr}")
            time.sleep(0.01)
        raise SystemExit(f"no window titled {TITLE!r} within {timeout:.0f} s")
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install xvfb xdotool)")
    exe = args.exe.absolute()
    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory(prefix="egr-startup-") as scratch:
            env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDDINGGEMMA_RAG_")}
            env.update(
                DISPLAY=display,
                QT_QPA_PLATFORM="xcb",
                EMBEDDINGGEMMA_RAG_DATA_DIR=f"{scratch}/library",
                EMBEDDINGGEMMA_RAG_CONFIG_DIR=f"{scratch}/config",
                EMBEDDINGGEMMA_RAG_MODELS_DIR=f"{scratch}/models",
                HF_HUB_OFFLINE="1",
            )
            evict_from_page_cache(exe.resolve().parent)
            times = [time_one_start(exe, env, args.timeout) for _ in range(args.runs)]
    finally:
        xvfb.terminate()
        xvfb.wait()
    print(f"cold start to first window: {times[0]:.2f} s (app files not in the page cache)")
    if len(times) > 1:
        warm = times[1:]
        print(
            f"warm start to first window: median {statistics.median(warm):.2f} s "
            f"(min {min(warm):.2f}, max {max(warm):.2f}, {len(warm)} runs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
