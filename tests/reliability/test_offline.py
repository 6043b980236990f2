"""Offline proof: ingest, search, ask, status, the self-test and the GUI's start work with the
network gone, and none of them tries it: no packet leaves (a network namespace counts them)
and Python makes no connection and looks up no name (an audit hook records them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.core.intake.test_ingestion import make_mixed_folder
from tests.reliability.helpers import REPO, cli_command

NO_NETWORK = Path(__file__).parent / "no_network"
GUI_START = Path(__file__).parent / "gui_start.py"
# In a fresh network namespace: loopback up and the default route through it, so that any
# connection or DNS query becomes packets the kernel counts (and answers nothing), then the
# command, then the counts before and after on stderr.
ISOLATE = r"""
packets() { tr ':' ' ' < /proc/net/dev | awk '$1 == "lo" { print $3 + $11 }'; }
ip link set lo up && ip route add default dev lo || exit 97
before=$(packets)
"$@"
status=$?
echo "LOOPBACK_PACKETS $before $(packets)" >&2
exit $status
"""


def namespaces_work() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", ISOLATE, "sh", "true"], capture_output=True, text=True
    )
    return probe.returncode == 0


NAMESPACES = namespaces_work()
needs_namespace = pytest.mark.skipif(
    not NAMESPACES, reason="`unshare -n` with `ip` is not permitted here (needs root or userns)"
)


def offline_env(tmp_path: Path, log: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The app must go offline by itself: nothing inherited from the test run helps it.
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        env.pop(name, None)
    env.update(
        PYTHONPATH=os.pathsep.join([str(NO_NETWORK), str(REPO)]),
        RELIABILITY_NETWORK_LOG=str(log),
        QT_QPA_PLATFORM="offscreen",
        EMBEDDINGGEMMA_RAG_DATA_DIR=str(tmp_path / "library"),
        EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL=str(TINY_EMBEDDING_MODEL),
        EMBEDDINGGEMMA_RAG_GENERATOR_MODEL=str(TINY_CHAT_MODEL),
    )
    return env


def run(
    command: list[str], env: dict[str, str], isolated: bool, timeout: float = 180
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run `command`; returns it and the packets the namespace saw (0 when not isolated)."""
    if isolated:
        command = ["unshare", "-n", "sh", "-c", ISOLATE, "sh", *command]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO
    )
    packets = 0
    for line in done.stderr.splitlines():
        if line.startswith("LOOPBACK_PACKETS "):
            before, after = map(int, line.split()[1:])
            packets = after - before
    return done, packets


def the_whole_path(tmp_path: Path) -> dict[str, list[str]]:
    folder = make_mixed_folder(tmp_path / "documents")
    data_dir = tmp_path / "library"

    def cli(*args: str) -> list[str]:
        return cli_command(data_dir, *args)

    return {
        "ingest": cli("ingest", str(folder)),
        "search": cli("search", "zeppelin hangar budget"),
        "ask": cli("ask", "What was the zeppelin hangar budget?", "--json"),
        "status": cli("status", "--json"),
        "models list": cli("models", "list"),
        "self-test": [*cli("self-test")],
        "gui start": [sys.executable, str(GUI_START), "60"],
    }


def check_offline_run(name: str, done: subprocess.CompletedProcess[str], packets: int) -> None:
    assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, f"{name}: {done.stderr[-2000:]}"
    assert packets == 0, f"{name} sent {packets} packets"
    if name == "gui start":
        assert "STATE embedding ready" in done.stdout, done.stdout
        assert "STATE generator ready" in done.stdout, done.stdout
        assert "INGESTED ok" in done.stdout and "EXIT 0" in done.stdout, done.stdout
        assert "SHOWN" not in done.stdout, done.stdout
        assert "DEADLINE" not in done.stdout, done.stdout


@pytest.mark.slow
def test_the_whole_path_runs_without_network(tmp_path: Path) -> None:
    """In a network namespace when the system allows one (the packet count then covers
    native code too), else with the audit hook alone."""
    log = tmp_path / "network.log"
    env = offline_env(tmp_path, log)
    for name, command in the_whole_path(tmp_path).items():
        done, packets = run(command, env, isolated=NAMESPACES)
        check_offline_run(name, done, packets)
        if name == "search":
            assert "report.pdf, page 3" in done.stdout, done.stdout
        if name.startswith("ask"):
            assert json.loads(done.stdout)["passages"], done.stdout
    assert not log.exists(), log.read_text()


def test_models_download_without_network_fails_in_one_line(tmp_path: Path) -> None:
    """The one command that uses the network says plainly that it could not."""
    log = tmp_path / "network.log"
    env = offline_env(tmp_path, log)
    done, _ = run(cli_command(tmp_path / "library", "models", "download"), env, NAMESPACES)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if not line.startswith("LOOPBACK")]
    assert len(errors) == 1 and errors[0].startswith("embeddinggemma-rag: error: "), done.stderr
    assert log.exists()  # it did try: the audit hook is what refused it


def test_the_audit_hook_sees_and_refuses_a_connection(tmp_path: Path) -> None:
    """Control: without it, an empty log would prove nothing."""
    log = tmp_path / "network.log"
    env = offline_env(tmp_path, log)
    code = (
        "import socket, urllib.request\n"
        "for call in (lambda: urllib.request.urlopen('http://example.com', timeout=2),\n"
        "             lambda: socket.socket().connect(('10.1.2.3', 80)),\n"
        "             lambda: socket.gethostbyname('example.com')):\n"
        "    try: call()\n"
        "    except OSError as error: print('refused', error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.count("refused") == 3, done.stdout + done.stderr
    lines = log.read_text().splitlines()
    assert [line.split()[1].split("(")[0] for line in lines] == [
        "socket.getaddrinfo",
        "socket.connect",
        "socket.gethostbyname",
    ]


@needs_namespace
def test_the_namespace_counts_a_connection_attempt(tmp_path: Path) -> None:
    """Control: native code's packets (here curl-like Python without the hook) are counted."""
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(0.5)\n"
        "try: s.connect(('10.1.2.3', 80))\n"
        "except OSError: pass\n"
    )
    done, packets = run([sys.executable, "-c", code], dict(os.environ), isolated=True)
    assert done.returncode == 0, done.stderr
    assert packets > 0


@pytest.mark.parametrize(
    "entry",
    [
        "embeddinggemma_rag.cli.main",
        "embeddinggemma_rag.gui.app",
        "embeddinggemma_rag.core.models.embedding",
    ],
)
def test_onnxruntime_telemetry_is_off_before_onnxruntime_loads(entry: str) -> None:
    """The opt-out is read once, when onnxruntime is imported: it must be set before that,
    whichever way in (command line, desktop app, or the embedder used directly)."""
    code = (
        "import importlib.abc, os, sys\n"
        "seen = []\n"
        "class Watch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'onnxruntime' and not seen:\n"
        "            seen.append(os.environ.get('ORT_DISABLE_TELEMETRY'))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        f"import {entry}\n"
        "import embeddinggemma_rag.core.models.embedding\n"
        "print(seen)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['1']"
