"""The command-line contract: commands, help, options and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from embeddinggemma_rag.cli.main import build_parser, main

COMMANDS = [
    "gui",
    "ingest",
    "remove",
    "search",
    "ask",
    "embed",
    "status",
    "models",
    "self-test",
    "bench",
    "recover",
]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embeddinggemma_rag", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_top_level_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    for option in ("--data-dir", "--embedding-model", "--generator-model"):
        assert option in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_models_actions_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("list", "download", "verify", "import"):
        with pytest.raises(SystemExit) as exit_info:
            main(["models", action, "--help"])
        assert exit_info.value.code == 0
    assert "PATH" in capsys.readouterr().out


def test_global_options_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", "/x", "search", "q"])
    after = parser.parse_args(["search", "q", "--data-dir", "/x"])
    assert before.data_dir == after.data_dir == Path("/x")


def test_bad_option_is_one_line_on_stderr() -> None:
    result = run_cli("search", "q", "--mode", "psychic")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "psychic" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_is_reported_without_traceback(tmp_path: Path) -> None:
    result = run_cli("ingest", str(tmp_path / "nope.pdf"))
    assert result.returncode == 1
    assert "nope.pdf" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_embedding_model_is_reported_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    result = run_cli(
        "--embedding-model", str(tmp_path / "no-model"), "ingest", str(tmp_path / "a.txt")
    )
    assert result.returncode == 1
    assert "no-model" in result.stderr
    assert "models download" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_progress_line_writes_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from embeddinggemma_rag.cli.output import ProgressLine

    current = io.StringIO()
    monkeypatch.setattr(sys, "stderr", current)
    assert ProgressLine().stream is current
    assert not ProgressLine().enabled  # not a terminal: no progress line
