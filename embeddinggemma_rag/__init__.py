"""EmbeddingGemma RAG: ask questions about your own documents, answered offline with citations."""

import os

# onnxruntime (1.29 and later) sends usage telemetry, Linux included, unless this is set before
# it is imported; every way into the app passes through this package first. The app promises
# that nothing leaves the machine, so the opt-out is forced, not defaulted.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
APP_NAME = "EmbeddingGemma RAG"
