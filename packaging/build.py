"""Build the app folder for this OS: `python packaging/build.py [--with-models DIR] [--out dist]`.

1. A build venv (`build/venv`) with the runtime dependencies only, plus PyInstaller: what
   is importable there ends up in the bundle, so the dev venv (torch, transformers) is never
   used.
2. llama-cpp-python compiled for portable CPUs into `~/.cache/embeddinggemma-rag/wheels/`
   (once: reused by every clone while the version and the CMake flags stay the same).
3. The package itself, installed non-editable, then PyInstaller with
   `packaging/embeddinggemma_rag.spec`.

Result: `<out>/embeddinggemma-rag/` (and `<out>/EmbeddingGemma RAG.app` on macOS).
Installers are made from it by `build_linux.sh`, `windows/installer.iss` and
`macos/make_dmg.sh`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
BUILD = ROOT / "build"
VENV = BUILD / "venv"
EXE_NAME = "embeddinggemma-rag"

# Pinned so that a release is rebuilt from the same code; bump both deliberately.
LLAMA_CPP_VERSION = "0.3.36"
PYINSTALLER = "pyinstaller==6.22.3"
# ggml's x86 CPU kernels to build, one loadable module each; at run time ggml loads the best
# one the CPU supports. All 14 would add ~10 minutes of compiling on two cores and 13 MB for
# little gain: these cover every x86-64 CPU (x64), AVX (2011+), AVX2 (2013+), Intel's AVX-VNNI
# (2021+ desktops) and AVX-512 with VNNI (Ice Lake and later, AMD Zen 4 and later).
CPU_VARIANTS = ("x64", "sandybridge", "haswell", "alderlake", "icelake")


def llama_cmake_args() -> str:
    """CMake flags for a llama.cpp that runs on any CPU of the platform, not only this one.

    The default `-march=native` build dies with "illegal instruction" on older CPUs. On x86
    the CPU kernels are built once per instruction-set level (CPU_VARIANTS) as loadable
    modules and ggml picks the best one at run time, so AVX2 and AVX-512 machines still get
    their fast paths. The multimodal library is not needed by the app.
    """
    flags = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF"]
    if sys.platform != "darwin":
        # Apple Silicon has one CPU family (Apple's default arm64 target) and uses Metal.
        flags += ["-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"]
    return " ".join(flags)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def run(command: list[str | Path], **kwargs: object) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, **kwargs)  # type: ignore[call-overload]


def pip(*args: str | Path, env: dict[str, str] | None = None) -> None:
    run([venv_python(), "-m", "pip", "--disable-pip-version-check", *args], env=env)


def ensure_venv() -> None:
    if not venv_python().exists():
        run([sys.executable, "-m", "venv", VENV])


def wheel_cache_dir() -> Path:
    """Outside the clone, so a fresh clone on the same machine (as CI makes) reuses the
    15-minute llama.cpp compile; EMBEDDINGGEMMA_RAG_WHEEL_CACHE moves it."""
    override = os.environ.get("EMBEDDINGGEMMA_RAG_WHEEL_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "embeddinggemma-rag" / "wheels"


def portable_llama_wheel() -> Path:
    """The portable llama-cpp-python wheel, built on the first call and cached after.

    pip's own wheel cache is keyed by the source archive, not by CMAKE_ARGS, so it could
    hand back a `-march=native` wheel built for a dev venv: the build runs with
    --no-cache-dir and the result is kept under a key that includes the flags.
    """
    cmake_args = llama_cmake_args()
    key_text = (
        f"{LLAMA_CPP_VERSION}|{cmake_args}|{CPU_VARIANTS}|{sys.platform}|{platform.machine()}"
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:12]
    cache = wheel_cache_dir() / f"llama-cpp-python-{LLAMA_CPP_VERSION}-{key}"
    wheels = sorted(cache.glob("llama_cpp_python-*.whl"))
    if wheels:
        print(f"portable llama-cpp-python: cached {wheels[0]}", flush=True)
        return wheels[0]
    env = dict(os.environ)
    env["CMAKE_ARGS"] = cmake_args
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=BUILD) as scratch:
        source = llama_source(Path(scratch))
        pip("wheel", "--no-deps", "--no-cache-dir", "--wheel-dir", scratch, source, env=env)
        built = next(Path(scratch).glob("llama_cpp_python-*.whl"))
        cache.mkdir(parents=True, exist_ok=True)
        wheel = cache / built.name
        shutil.move(built, wheel)  # only a finished wheel ever lands in the cache
    print(f"portable llama-cpp-python: built in {time.monotonic() - started:.0f} s", flush=True)
    return wheel


def llama_source(scratch: Path) -> Path:
    """llama-cpp-python's source, unpacked, with the x86 CPU variants cut to CPU_VARIANTS."""
    pip(
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--dest",
        scratch,
        f"llama-cpp-python=={LLAMA_CPP_VERSION}",
    )
    archive = next(scratch.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
    source = scratch / archive.name.removesuffix(".tar.gz")
    prune_cpu_variants(source / "vendor" / "llama.cpp" / "ggml" / "src" / "CMakeLists.txt")
    return source


def prune_cpu_variants(cmake_lists: Path) -> None:
    """Comment out the x86 `ggml_add_cpu_backend_variant(...)` lines not in CPU_VARIANTS.

    Fails loudly if the file no longer looks as expected (after a version bump), rather
    than silently building all variants or none.
    """
    text = cmake_lists.read_text(encoding="utf-8")
    start = text.index("if (GGML_CPU_ALL_VARIANTS)")
    x86 = text.index('if (GGML_SYSTEM_ARCH STREQUAL "x86")', start)
    end = text.index("elseif(GGML_SYSTEM_ARCH STREQUAL", x86)
    found: list[str] = []

    def keep_or_comment(match: re.Match[str]) -> str:
        found.append(match.group(2))
        if match.group(2) in CPU_VARIANTS:
            return match.group(0)
        return f"{match.group(1)}# left out by packaging/build.py: {match.group(0).strip()}"

    variant_line = re.compile(r"^(\s*)ggml_add_cpu_backend_variant\((\w+).*$", re.MULTILINE)
    block = variant_line.sub(keep_or_comment, text[x86:end])
    missing = set(CPU_VARIANTS) - set(found)
    if missing:
        raise SystemExit(f"build.py: CPU variants {sorted(missing)} not in {cmake_lists}")
    cmake_lists.write_text(text[:x86] + block + text[end:], encoding="utf-8")


def install_runtime(wheel: Path) -> None:
    # The wheel is named by path, so pip can neither compile nor pick another build. Both it
    # and the app keep their version numbers across rebuilds with other flags or new code,
    # which pip would take as already installed: reinstall them every time.
    pip("install", "--no-deps", "--force-reinstall", wheel)
    pip("install", wheel, PYINSTALLER, str(ROOT))
    # setuptools builds in build/lib and would package modules since deleted from the source.
    shutil.rmtree(BUILD / "lib", ignore_errors=True)
    pip("install", "--no-deps", "--force-reinstall", str(ROOT))
    keep_only_headless_opencv()


def keep_only_headless_opencv() -> None:
    """rapidocr-onnxruntime declares the GUI build of OpenCV, which bundles its own Qt (about
    115 MB, and a second Qt beside PySide6's); the app declares the headless build, which
    provides the same `cv2`. pip installs both into one `cv2` folder and has no way to drop a
    dependency, so the GUI build is removed here and the headless one reinstalled over the
    files they shared."""
    pip("uninstall", "--yes", "opencv-python")
    pip("install", "--no-deps", "--force-reinstall", "opencv-python-headless")


def platform_icon() -> Path | None:
    """Windows and macOS want .ico/.icns; Qt renders them from the same drawing as the PNG."""
    suffix = {"win32": "ico", "darwin": "icns"}.get(sys.platform)
    if suffix is None:
        return None  # the Linux launchers use packaging/icons/embeddinggemma-rag.png
    icon = BUILD / "icons" / f"{EXE_NAME}.{suffix}"
    run([venv_python(), PACKAGING / "make_icon.py", f"--{suffix}", icon])
    return icon


def run_pyinstaller(out: Path, models: Path | None, icon: Path | None) -> None:
    spec_args: list[str | Path] = []
    if models is not None:
        spec_args += ["--with-models", models]
    if icon is not None:
        spec_args += ["--icon", icon]
    command: list[str | Path] = [venv_python(), "-m", "PyInstaller", "--noconfirm"]
    command += ["--distpath", out, "--workpath", BUILD / "pyinstaller"]
    command += [PACKAGING / "embeddinggemma_rag.spec"]
    if spec_args:
        command += ["--", *spec_args]
    # Not from the repository root: its embeddinggemma_rag/ would shadow the installed one.
    run(command, cwd=BUILD)


def folder_size(path: Path, skip: Path | None = None) -> int:
    total = 0
    for item in path.rglob("*"):
        if skip is not None and item.is_relative_to(skip):
            continue
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--with-models",
        type=Path,
        metavar="DIR",
        help="ship these models inside the app (a folder laid out like the per-user "
        "models folder: embeddinggemma-300m-q4/ and gemma-3-1b-it-Q4_K_M.gguf)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    args = parser.parse_args(argv)
    if args.with_models is not None and not args.with_models.is_dir():
        parser.error(f"--with-models {args.with_models}: not a folder")
    started = time.monotonic()
    BUILD.mkdir(exist_ok=True)
    ensure_venv()
    install_runtime(portable_llama_wheel())
    run_pyinstaller(args.out.resolve(), args.with_models, platform_icon())
    app_dir = args.out.resolve() / EXE_NAME
    size = folder_size(app_dir, skip=app_dir / "_internal" / "models") / 2**20
    print(f"app folder: {app_dir} ({size:.0f} MiB without models)")
    print(f"build took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
