"""The packaging files hang together: spec, launchers, icon, Debian control and scripts.

Building the bundle takes minutes and happens in CI's packaging step
(`packaging/build_linux.sh --ci`); these checks catch a broken file in a second.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
EXE_NAME = "embeddinggemma-rag"


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"packaging_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_is_python_and_names_the_app() -> None:
    text = (PACKAGING / "embeddinggemma_rag.spec").read_text(encoding="utf-8")
    compile(text, "embeddinggemma_rag.spec", "exec")
    assert 'APP_NAME = "EmbeddingGemma RAG"' in text
    assert f'EXE_NAME = "{EXE_NAME}"' in text
    for excluded in ("torch", "transformers", "onnx", "gguf", "tests"):
        assert f'"{excluded}",' in text, excluded
    for name in ("entry.py", "rthook_stdio.py", "rthook_models.py"):
        assert name in text and (PACKAGING / name).is_file(), name


def test_llama_cpp_is_built_for_portable_cpus() -> None:
    build = load_module(PACKAGING / "build.py")
    flags = build.llama_cmake_args().split()
    assert "-DGGML_NATIVE=OFF" in flags
    if sys.platform != "darwin":
        assert {"-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"} <= set(flags)


def test_desktop_entry_launches_the_installed_executable() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read(PACKAGING / "linux" / f"{EXE_NAME}.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "EmbeddingGemma RAG"
    assert section["Exec"].split()[0] == EXE_NAME
    assert section["Icon"] == EXE_NAME
    assert section["Terminal"] == "false"
    assert section["Categories"].endswith(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="not installed")
def test_desktop_entry_validates() -> None:
    path = PACKAGING / "linux" / f"{EXE_NAME}.desktop"
    result = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_icon_is_a_256_px_png() -> None:
    data = (PACKAGING / "icons" / f"{EXE_NAME}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == (256, 256)


def test_debian_control_template_is_complete() -> None:
    text = (PACKAGING / "linux" / "control.in").read_text(encoding="utf-8")
    fields = dict(
        line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" ")
    )
    assert fields["Package"] == EXE_NAME
    for placeholder in ("@VERSION@", "@ARCH@", "@INSTALLED_SIZE@", "@MAINTAINER@", "@GLIBC@"):
        assert placeholder in text, placeholder
    assert {"Depends", "Description", "Section", "Priority"} <= fields.keys()
    assert text.endswith("\n")  # dpkg-deb rejects a control file without a final newline


def test_windows_installer_makes_a_start_menu_shortcut() -> None:
    text = (PACKAGING / "windows" / "installer.iss").read_text(encoding="utf-8")
    assert "{autoprograms}\\{#AppName}" in text
    assert f'#define ExeName "{EXE_NAME}.exe"' in text
    assert "AppId={{" in text


@pytest.mark.parametrize(
    "script", ["build_linux.sh", "linux/install-desktop-entry.sh", "macos/make_dmg.sh"]
)
def test_shell_scripts_parse_and_stop_on_errors(script: str) -> None:
    path = PACKAGING / script
    assert "set -euo pipefail" in path.read_text(encoding="utf-8")
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_smoke_test_flags_unexpected_stderr_lines() -> None:
    smoke = load_module(PACKAGING / "smoke_test.py")
    assert smoke.unexpected_lines("") == []
    assert smoke.unexpected_lines("\n  \n") == []
    assert smoke.unexpected_lines("qt.qpa.plugin: could not load xcb\n") == [
        "qt.qpa.plugin: could not load xcb"
    ]


def test_debian_package_depends_on_what_qts_xcb_platform_loads() -> None:
    """Without these, the installed app cannot open its window on an X11 desktop."""
    from embeddinggemma_rag.gui.platform_check import XCB_LIBRARIES

    text = (PACKAGING / "linux" / "control.in").read_text(encoding="utf-8")
    # The field and its continuation lines (which start with a space).
    depends = re.search(r"^Depends: (.*(?:\n .*)*)", text, re.MULTILINE)
    assert depends is not None
    names = {entry.strip().split(" ")[0] for entry in depends[1].split(",")}
    assert {packages[0] for packages in XCB_LIBRARIES.values()} <= names


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject lists the packages by hand: one left out installs everywhere but an editable
    checkout, and the frozen app lacks it (the MCP server did, and only the smoke test saw)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "embeddinggemma_rag").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
