"""Entry point of the frozen app: the same command line as `embeddinggemma-rag`.

With no command it opens the window, so one executable serves the menu entry and the CLI.
"""

import multiprocessing
import os
import sys

from embeddinggemma_rag.cli.main import main

# Set by PyInstaller's bootloader and its PySide6 runtime hook for this process only.
_BUNDLE_ONLY_VARIABLES = ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH")


def restore_environment_for_launched_programs() -> None:
    """Give programs the app starts (xdg-open and the viewer it picks for a cited file)
    the user's environment instead of the bundle's.

    On Linux the bootloader puts the bundle's `_internal/` first in LD_LIBRARY_PATH, and the
    PySide6 hook points QT_PLUGIN_PATH at the bundle's plugins: a PDF viewer inheriting them
    loads the bundle's glib or Qt plugins instead of its own and fails. The dynamic loader
    read LD_LIBRARY_PATH when this process started and Qt finds its plugins through the
    PySide6 package itself, so only what children inherit changes.
    """
    if not (getattr(sys, "frozen", False) and sys.platform.startswith("linux")):
        return
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = original
    for name in _BUNDLE_ONLY_VARIABLES:
        os.environ.pop(name, None)


if __name__ == "__main__":
    # The parser runs in a "spawn" child; in a frozen app that child is this executable
    # again, and freeze_support() makes it serve the parser instead of parsing argv.
    multiprocessing.freeze_support()
    restore_environment_for_launched_programs()
    sys.exit(main())
