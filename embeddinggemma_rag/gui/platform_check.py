"""Before Qt starts on Linux: the system libraries its X11 (xcb) platform needs, checked.

Without one of them Qt prints "Could not load the Qt platform plugin xcb" with advice meant
for Qt developers and aborts the process (exit 134). Loading each library by its soname
first costs a few milliseconds and lets the app say in one line what to install.
No Qt import here: this runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# soname -> package providing it on Debian/Ubuntu, Fedora, Arch, openSUSE. What PySide6 6.12's
# libqxcb.so and libQt6XcbQpa.so.6 need beyond the libraries every desktop already has.
XCB_LIBRARIES: dict[str, tuple[str, str, str, str]] = {
    "libxcb-cursor.so.0": (
        "libxcb-cursor0",
        "xcb-util-cursor",
        "xcb-util-cursor",
        "libxcb-cursor0",
    ),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm", "libxcb-icccm4"),
    "libxcb-keysyms.so.1": (
        "libxcb-keysyms1",
        "xcb-util-keysyms",
        "xcb-util-keysyms",
        "libxcb-keysyms1",
    ),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image", "libxcb-image0"),
    "libxcb-render-util.so.0": (
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
        "libxcb-render-util0",
    ),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util", "libxcb-util1"),
    "libxkbcommon-x11.so.0": (
        "libxkbcommon-x11-0",
        "libxkbcommon-x11",
        "libxkbcommon-x11",
        "libxkbcommon-x11-0",
    ),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb", "libxcb-xkb1"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb", "libxcb-randr0"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb", "libxcb-shape0"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb", "libxcb-sync1"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb", "libxcb-xfixes0"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb", "libxcb-shm0"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11", "libX11-xcb1"),
}
# Package manager command per distribution family, in the order of the tuples above.
INSTALLERS = ("sudo apt install", "sudo dnf install", "sudo pacman -S", "sudo zypper install")
_FAMILIES = {"debian": 0, "ubuntu": 0, "fedora": 1, "rhel": 1, "centos": 1, "arch": 2, "suse": 3}


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will try its xcb platform: chosen explicitly, or the default outside Wayland."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    # Qt 6 picks Wayland in a Wayland session and falls back to xcb only if that fails.
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY")
    return not wayland


def missing_libraries(load: Callable[[str], object] = ctypes.CDLL) -> list[str]:
    """The sonames of `XCB_LIBRARIES` that the dynamic loader cannot find."""
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing


def distribution_family(os_release: Path = Path("/etc/os-release")) -> int:
    """Index into `INSTALLERS` from ID and ID_LIKE; Debian's when unknown."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    ids: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip('"').lower().split()
    for name in ids:
        for family, index in _FAMILIES.items():
            if name == family or name.startswith(family):
                return index
    return 0


def install_line(missing: list[str], family: int) -> str:
    """The one line the user reads: what is missing and the command that installs it."""
    packages = sorted({XCB_LIBRARIES[soname][family] for soname in missing})
    return (
        f"The window needs system libraries that are missing ({', '.join(missing)}); "
        f"install them with: {INSTALLERS[family]} {' '.join(packages)}"
    )


def xcb_problem(
    environ: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    load: Callable[[str], object] = ctypes.CDLL,
    os_release: Path = Path("/etc/os-release"),
) -> str | None:
    """None when Qt can start here; otherwise one line saying what to install."""
    if not platform.startswith("linux") or not uses_xcb(environ):
        return None
    missing = missing_libraries(load)
    if missing:
        return install_line(missing, distribution_family(os_release))
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return "No display to open the window on (DISPLAY is not set): start it from a desktop"
    return None
