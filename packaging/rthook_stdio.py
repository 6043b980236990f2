"""PyInstaller runtime hook: give a windowed app real (null) stdout and stderr.

A windowed executable on Windows starts with sys.stdout and sys.stderr set to None, and
llama-cpp-python calls sys.stdout.fileno() to silence llama.cpp's logging: loading a model
would fail with AttributeError. Console builds and terminals are left untouched.
"""

import os
import sys

if sys.stdout is None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the app)
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
