"""Qt's xcb platform on Linux: a missing system library is named in one line, never an abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from embeddinggemma_rag.gui import platform_check
from embeddinggemma_rag.gui.platform_check import XCB_LIBRARIES, uses_xcb, xcb_problem

ROOT = Path(__file__).resolve().parents[2]


def loader_without(*absent: str):  # type: ignore[no-untyped-def]
    def load(soname: str) -> object:
        if soname in absent:
            raise OSError(f"{soname}: cannot open shared object file")
        return object()

    return load


def os_release(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "os-release"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_libraries_are_named_with_the_debian_packages(tmp_path: Path) -> None:
    line = xcb_problem(
        {"DISPLAY": ":0"},
        "linux",
        loader_without("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"),
        os_release(tmp_path, 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n'),
    )
    assert line is not None and "\n" not in line
    assert line.endswith("sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")
    assert "libxcb-cursor.so.0" in line


@pytest.mark.parametrize(
    ("release", "command"),
    [
        ("ID=ubuntu\nID_LIKE=debian\n", "sudo apt install libxcb-cursor0"),
        ("ID=fedora\n", "sudo dnf install xcb-util-cursor"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "sudo dnf install xcb-util-cursor"),
        ("ID=arch\n", "sudo pacman -S xcb-util-cursor"),
        (
            'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n',
            "sudo zypper install libxcb-cursor0",
        ),
    ],
)
def test_the_install_line_fits_the_distribution(tmp_path: Path, release: str, command: str) -> None:
    line = xcb_problem(
        {"DISPLAY": ":0"},
        "linux",
        loader_without("libxcb-cursor.so.0"),
        os_release(tmp_path, release),
    )
    assert line is not None and line.endswith(command)


def test_nothing_to_say_when_qt_can_start(tmp_path: Path) -> None:
    everything = loader_without()
    assert xcb_problem({"DISPLAY": ":0"}, "linux", everything) is None
    # Other platforms and other Qt back-ends are not checked at all.
    nothing = loader_without(*XCB_LIBRARIES)
    assert xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", nothing) is None
    assert xcb_problem({}, "darwin", nothing) is None
    wayland = {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}
    assert xcb_problem(wayland, "linux", nothing) is None
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb:display=:1"})
    assert uses_xcb({})


def test_no_display_is_said_plainly() -> None:
    line = xcb_problem({}, "linux", loader_without())
    assert line is not None and "DISPLAY" in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb platform is Linux's")
def test_the_app_exits_with_one_line_instead_of_qt_aborting(tmp_path: Path) -> None:
    """With no display (and, on a fresh machine, missing libraries) Qt would abort (134)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    result = subprocess.run(
        [sys.executable, "-m", "embeddinggemma_rag", "gui"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    expected = platform_check.xcb_problem(env)
    assert lines[0] == expected
