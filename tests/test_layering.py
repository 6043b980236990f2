"""The core never imports Qt: the GUI is one client of the engine among others, and the GUI,
the CLI and the MCP server reach the core through the engine and its records only."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import embeddinggemma_rag.core as core


def test_no_core_module_loads_pyside6() -> None:
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, "embeddinggemma_rag.core.")]
    assert "embeddinggemma_rag.core.engine" in modules
    assert "embeddinggemma_rag.core.intake.parsing.sandbox_child" in modules  # subpackages too
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


# The GUI, the CLI and the MCP server come in through one door: the engine, and the records
# it takes and returns. Everything else in core/ is the engine's own business (issue 16).
CORE = "embeddinggemma_rag.core"
ALLOWED_FROM_CORE = (f"{CORE}.engine", f"{CORE}.records")
CLIENTS = ("gui", "cli", "server")
PACKAGE_ROOT = Path(core.__path__[0]).parent


def _is_package(module: str) -> bool:
    """The app's package, core/ or one of core's subpackages (`core.library`...)."""
    if module == "embeddinggemma_rag":
        return True
    inside = module == CORE or module.startswith(CORE + ".")
    return inside and (PACKAGE_ROOT.parent.joinpath(*module.split("."), "__init__.py")).is_file()


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, at any depth (inside functions and
    `if TYPE_CHECKING:` too), relative ones resolved against `package`. A name imported
    from a package (`from embeddinggemma_rag.core import paths`, `from
    embeddinggemma_rag.core.library import search`) counts as its module, and so does a
    literal string given to importlib.import_module or __import__."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if _is_package(module):
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                found.append((node.lineno, str(first.value)))
    return found


def core_side_doors(source: str, package: str) -> list[str]:
    """The modules of core/ that `source` imports besides the engine and the records."""
    return [
        f"line {line}: {module}"
        for line, module in sorted(imported_modules(source, package))
        if (module == CORE or module.startswith(CORE + "."))
        and not any(module == door or module.startswith(door + ".") for door in ALLOWED_FROM_CORE)
    ]


def test_the_clients_import_nothing_from_core_but_the_engine_and_the_records() -> None:
    doors: list[str] = []
    files = [path for client in CLIENTS for path in (PACKAGE_ROOT / client).rglob("*.py")]
    assert len(files) > 20  # the walk found the packages
    for path in files:
        package = ".".join(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts[:-1])
        source = path.read_text(encoding="utf-8")
        doors += [
            f"{path.relative_to(PACKAGE_ROOT)} {door}" for door in core_side_doors(source, package)
        ]
    assert doors == [], "side doors into core/:\n" + "\n".join(doors)


def test_the_side_door_check_sees_every_way_of_importing() -> None:
    """The check above must be able to fail: each of these is a side door."""
    source = (
        "from embeddinggemma_rag.core import paths\n"
        "from embeddinggemma_rag.core.engine import Engine\n"
        "from embeddinggemma_rag import core\n"
        "import embeddinggemma_rag.core.library.library\n"
        "from ..core.records import Answer\n"
        "from ..core.settings import Settings\n"
        "def later():\n"
        "    from embeddinggemma_rag.core import models, engine\n"
        "    importlib.import_module('embeddinggemma_rag.core.intake.parsing')\n"
        "if TYPE_CHECKING:\n"
        "    from embeddinggemma_rag.core.library.chunk_store import ChunkRecord\n"
        "from embeddinggemma_rag.core.models import model_store\n"
        "from ..core.library import search\n"
        "from ..core.answering.ask import answer_question\n"
    )
    assert core_side_doors(source, "embeddinggemma_rag.gui") == [
        "line 1: embeddinggemma_rag.core.paths",
        "line 3: embeddinggemma_rag.core",
        "line 4: embeddinggemma_rag.core.library.library",
        "line 6: embeddinggemma_rag.core.settings",
        "line 8: embeddinggemma_rag.core.models",
        "line 9: embeddinggemma_rag.core.intake.parsing",
        "line 11: embeddinggemma_rag.core.library.chunk_store",
        "line 12: embeddinggemma_rag.core.models.model_store",
        "line 13: embeddinggemma_rag.core.library.search",
        "line 14: embeddinggemma_rag.core.answering.ask",
    ]


def test_the_records_and_the_engine_import_no_model_library() -> None:
    """The window imports both at start-up: numpy, onnxruntime, FAISS and llama.cpp load
    later, on a worker, with the first model or library an engine opens."""
    code = (
        "import sys\n"
        "import embeddinggemma_rag.core.records\n"
        "records = sorted(m for m in ('numpy', 'onnxruntime', 'faiss', 'llama_cpp')"
        " if m in sys.modules)\n"
        "import embeddinggemma_rag.core.engine\n"
        "engine = sorted(m for m in ('numpy', 'onnxruntime', 'faiss', 'llama_cpp')"
        " if m in sys.modules)\n"
        "print(records, engine)\n"
        "sys.exit(1 if records or engine else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


PACKAGE = Path(core.__path__[0]).parent
MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    """Small modules with one concern each (the size rule of the layout)."""
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def _module_level_core_imports(path: Path, name: str) -> set[str]:
    """The core modules `path` imports when it is loaded: module-level imports, not those
    inside functions (deferred on purpose) or under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in (
            ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else ()
        ):
            if isinstance(inner, ast.Import):
                found.update(a.name for a in inner.names)
            elif isinstance(inner, ast.ImportFrom):
                base = inner.module or ""
                if inner.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - inner.level + 1])
                    base = f"{base}.{inner.module}" if inner.module else base
                found.add(base)
                found.update(f"{base}.{a.name}" for a in inner.names)
    return {m for m in found if m.startswith("embeddinggemma_rag.core")}


def core_import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, Path]]:
    """Every module under `root` (core/, its subpackages included) and the core modules each
    one imports when it is loaded."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parents[1]).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {
        name: {m for m in _module_level_core_imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }
    return graph, modules


def import_cycles(graph: dict[str, set[str]], modules: dict[str, Path]) -> list[list[str]]:
    """The cycles of `graph`, found by a depth-first search for back edges."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # A package's __init__ importing its own modules is not a cycle that matters.
    return [c for c in cycles if not any(modules[m].name == "__init__.py" for m in c)]


def test_no_import_cycle_inside_core() -> None:
    graph, modules = core_import_graph(Path(core.__path__[0]))
    assert (
        "embeddinggemma_rag.core.library.search" in graph["embeddinggemma_rag.core.library.library"]
    )
    assert "embeddinggemma_rag.core.intake.parsing.sandbox" in graph  # the subpackages' too
    assert import_cycles(graph, modules) == []


def test_the_cycle_check_sees_cycles_inside_and_across_subpackages(tmp_path: Path) -> None:
    """The check above must be able to fail, in a subpackage as at core/'s top."""
    files = {
        "__init__.py": "",
        "library/__init__.py": '"""A subpackage."""\n',
        "library/a.py": "from embeddinggemma_rag.core.library import b\n",
        "library/b.py": "from .a import helper\n",
        "intake/__init__.py": "",
        "intake/c.py": "from embeddinggemma_rag.core.models.d import x\n",
        "models/__init__.py": "",
        "models/d.py": "from ..intake import c\n",
        "models/e.py": "def later():\n    from embeddinggemma_rag.core.models import d\n",
        "f.py": "from embeddinggemma_rag.core.models import e\n",
    }
    root = tmp_path / "embeddinggemma_rag" / "core"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    graph, modules = core_import_graph(root)
    assert sorted(import_cycles(graph, modules)) == [
        [f"{CORE}.intake.c", f"{CORE}.models.d", f"{CORE}.intake.c"],
        [f"{CORE}.library.a", f"{CORE}.library.b", f"{CORE}.library.a"],
    ]
