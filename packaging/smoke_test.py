"""Run a frozen build's `self-test` the way a user's machine would, and fail on anything odd.

    python packaging/smoke_test.py EXE              # tiny test models passed on the command line
    python packaging/smoke_test.py EXE --bundled    # models shipped inside the app (--with-models)
    python packaging/smoke_test.py EXE --gui        # the window starts and stays up (offscreen)
    xvfb-run -a python packaging/smoke_test.py EXE --gui --platform xcb   # as on a desktop

The app runs with throw-away data, config and model folders, no network (HF_HUB_OFFLINE),
and no display (Qt offscreen), or with `--platform xcb` on the X display it is given (Xvfb
in CI), which needs the system libraries a user's desktop needs. It must exit 0 with a
clean stderr: every stderr line that is not explicitly expected fails the test, as in
qutebrowser's smoke test, because a warning from a missing library or plugin is how a
broken bundle first shows. Standard library only: the release workflow runs it on Windows
and macOS too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_MODELS = ROOT / "tests" / "data" / "models"

# stderr lines a healthy run may print; each needs a reason.
EXPECTED_STDERR: list[re.Pattern[str]] = [
    # Qt's offscreen platform (no display in CI) says so when a window sets its size hints.
    re.compile(r"^This plugin does not support propagateSizeHints\(\)$"),
]


def unexpected_lines(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not any(pattern.search(line) for pattern in EXPECTED_STDERR)
    ]


def clean_env(scratch: Path, bundled: bool, platform: str = "offscreen") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBEDDINGGEMMA_RAG_")}
    env["EMBEDDINGGEMMA_RAG_DATA_DIR"] = str(scratch / "library")
    env["EMBEDDINGGEMMA_RAG_CONFIG_DIR"] = str(scratch / "config")
    if not bundled:
        # With --bundled the app's runtime hook must find its own models/ folder.
        env["EMBEDDINGGEMMA_RAG_MODELS_DIR"] = str(scratch / "models")
    env["HF_HUB_OFFLINE"] = "1"
    env["QT_QPA_PLATFORM"] = platform
    return env


def run_checked(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    print("+", " ".join(command), flush=True)
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    sys.stdout.write(result.stdout)
    problems = []
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}")
    unexpected = unexpected_lines(result.stderr)
    if unexpected:
        problems.append("unexpected stderr:\n  " + "\n  ".join(unexpected))
    if problems:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"smoke test FAILED ({elapsed:.1f} s): " + "; ".join(problems))
    print(f"ok ({elapsed:.1f} s)", flush=True)
    return result.stdout


def check_window_stays_up(exe: str, env: dict[str, str], cwd: Path, seconds: float) -> None:
    """Start the app with no command (the window) and check it is still running after
    `seconds`: a missing Qt plugin or library ends it at once, with a message on stderr."""
    print(f"+ {exe}  (window, {env['QT_QPA_PLATFORM']}, {seconds:.0f} s)", flush=True)
    with tempfile.TemporaryFile() as stderr_file:
        app = subprocess.Popen(
            [exe], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr_file
        )
        try:
            app.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:
            exited = app.poll()
            if exited is None:
                app.terminate()
                app.wait(timeout=30)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", errors="replace")
    if exited is not None:
        raise SystemExit(f"smoke test FAILED: the app exited ({exited}) early:\n{stderr}")
    unexpected = unexpected_lines(stderr)
    if unexpected:
        raise SystemExit("smoke test FAILED: unexpected stderr:\n  " + "\n  ".join(unexpected))
    print("ok", flush=True)


def check_mcp_server(exe: str, models: list[str], env: dict[str, str], cwd: Path) -> None:
    """`mcp` answers the protocol's handshake and lists its tools: the SDK and its lazily
    imported parts made it into the bundle. JSON-RPC by hand: the smoke test uses only the
    standard library."""
    command = [exe, *models, "mcp"]
    print("+", " ".join(command), " (initialize, tools/list)", flush=True)
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "smoke-test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    with tempfile.TemporaryFile() as stderr_file:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            encoding="utf-8",
        )
        assert server.stdin is not None and server.stdout is not None
        replies = {}
        try:
            server.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
            server.stdin.flush()
            while 2 not in replies:
                line = server.stdout.readline()
                if not line:
                    break
                reply = json.loads(line)  # anything but JSON-RPC on stdout fails here
                replies[reply.get("id")] = reply
        finally:
            server.stdin.close()  # the client leaves: the server must end by itself
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                failure = "smoke test FAILED: mcp did not exit when its client left"
                raise SystemExit(failure) from None
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", errors="replace")
    tools = {tool["name"] for tool in replies.get(2, {}).get("result", {}).get("tools", [])}
    if tools != {"search", "ask", "list_documents", "read_passage"}:
        raise SystemExit(f"smoke test FAILED: mcp listed {sorted(tools)}:\n{stderr}")
    print("ok", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe", type=Path, help="the frozen executable (or a symlink to it)")
    parser.add_argument(
        "--bundled", action="store_true", help="use the models inside the app, pass none"
    )
    parser.add_argument(
        "--gui", action="store_true", help="only check that the window starts and stays up"
    )
    parser.add_argument(
        "--platform",
        default="offscreen",
        choices=("offscreen", "xcb"),
        help="Qt platform for --gui (xcb: the X display in DISPLAY, e.g. under xvfb-run)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    args = parser.parse_args(argv)
    exe = str(args.exe.absolute())  # absolute but not resolved: a /usr/bin symlink stays one
    with tempfile.TemporaryDirectory(prefix="egr-smoke-") as scratch_name:
        scratch = Path(scratch_name)
        env = clean_env(scratch, args.bundled, args.platform)
        if args.gui:
            check_window_stays_up(exe, env, scratch, seconds=8)
            return 0
        version = run_checked([exe, "--version"], env, scratch, args.timeout)
        if not version.startswith("embeddinggemma-rag "):
            raise SystemExit(f"smoke test FAILED: unexpected --version output {version!r}")
        models = []
        if not args.bundled:
            models = [
                "--embedding-model",
                str(TEST_MODELS / "tiny-embeddinggemma"),
                "--generator-model",
                str(TEST_MODELS / "tiny-chat.gguf"),
            ]
        # The working directory is the scratch folder, so nothing is found by accident
        # in the checkout (ggml also looks for its CPU modules in the working directory).
        run_checked([exe, "self-test", *models], env, scratch, args.timeout)
        check_mcp_server(exe, models, env, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
