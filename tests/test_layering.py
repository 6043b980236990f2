"""The core never imports Qt: the GUI is one client of the engine among others."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import embeddinggemma_rag.core as core


def test_no_core_module_loads_pyside6() -> None:
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, "embeddinggemma_rag.core.")]
    assert "embeddinggemma_rag.core.engine" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('PySide6'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_loads_the_mcp_sdk_and_the_server_never_loads_qt_or_the_cli() -> None:
    """The server is another client of the engine: `core/` stays free of the MCP SDK (the
    GUI and CLI never pay for it), and the server needs neither Qt nor the CLI's modules."""
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, "embeddinggemma_rag.core.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "core_loaded = sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.'))\n"
        "importlib.import_module('embeddinggemma_rag.server.mcp_server')\n"
        "server_loaded = sorted(m for m in sys.modules\n"
        "    if m.startswith(('PySide6', 'embeddinggemma_rag.gui', 'embeddinggemma_rag.cli')))\n"
        "print(core_loaded, server_loaded)\n"
        "sys.exit(1 if core_loaded or server_loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
