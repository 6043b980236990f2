"""PyInstaller runtime hook: use the models shipped inside the app, if there are any.

`build.py --with-models DIR` puts DIR into the bundle as `models/`. The core code finds its
default models under EMBEDDINGGEMMA_RAG_MODELS_DIR, so pointing that variable at the bundled
folder makes an installer work offline from its first start, with no change to the core.
A variable the user set wins, and models chosen in the settings or on the command line still
take precedence over the default folder.
"""

import os
import sys
from pathlib import Path

MODELS_DIR_ENV = "EMBEDDINGGEMMA_RAG_MODELS_DIR"


def bundled_models_dir() -> Path | None:
    root = getattr(sys, "_MEIPASS", None)
    if root is None:
        return None
    models = Path(root) / "models"
    return models if models.is_dir() and any(models.iterdir()) else None


if not os.environ.get(MODELS_DIR_ENV):
    _bundled = bundled_models_dir()
    if _bundled is not None:
        os.environ[MODELS_DIR_ENV] = str(_bundled)
