"""The engine's models: the concrete ones it runs by default, and the model files it manages.

The default factories import onnxruntime and llama.cpp only when they are called, so that
importing the engine stays light (tests/test_layering.py). Model management (the manifest,
listing, verifying, importing and downloading) works on settings alone, without an engine:
`models download` must not build one, since an engine keeps the app offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embeddinggemma_rag.core.models import model_store
from embeddinggemma_rag.core.models.model_files import embedding_model_path, generator_model_path
from embeddinggemma_rag.core.models.model_store import download_models as download_models
from embeddinggemma_rag.core.models.model_store import import_model as import_model
from embeddinggemma_rag.core.models.model_store import list_models as list_models
from embeddinggemma_rag.core.models.model_store import load_manifest as load_manifest
from embeddinggemma_rag.core.models.model_store import verify_models as verify_models

if TYPE_CHECKING:
    from embeddinggemma_rag.core.answering.generation import ChatModel
    from embeddinggemma_rag.core.library.library import Library
    from embeddinggemma_rag.core.models.embedding import Embedder, OnnxEmbedder
    from embeddinggemma_rag.core.settings import Settings


def default_embedder(settings: Settings) -> OnnxEmbedder:
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    model_store.require_recorded_sums(settings, "embedding")
    return OnnxEmbedder(embedding_model_path(settings), threads=settings.threads)


def default_generator(settings: Settings) -> ChatModel:
    """The answer model in its own process: a native fault in llama.cpp costs one answer."""
    from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel

    model_store.require_recorded_sums(settings, "generator")
    return ProcessChatModel(
        generator_model_path(settings), settings.context_tokens, settings.threads
    )


def embed_as_the_library_does(library: Library, embedder: Embedder) -> None:
    """Questions are embedded the way the library's passages were, and an empty library
    takes the way this machine measured fastest (core/models/compute_choice.py).

    The measurement is remembered per machine, not per library, and can change (a cleared
    cache, a new onnxruntime, a first measurement on a busy machine): the library's own
    record is what keeps its passages and its questions comparable."""
    way = getattr(embedder, "compute_way", None)
    use_compute_way = getattr(embedder, "use_compute_way", None)
    if way is None or use_compute_way is None:
        return  # one way only (an fp32 graph, a forced level, a test double)
    recorded = library.embedding_way()
    stored_vectors = library.counts()[1] > 0
    if recorded not in (None, way) and stored_vectors and use_compute_way(recorded):
        return
    library.record_embedding_way(way)


def query_cosine(embedder: Embedder, first: str, second: str) -> float:
    """Cosine of two texts embedded as queries (the embedder's vectors are normalised): how
    close a question lies to the conversation before it (answering.ask.FOLLOW_UP_COSINE)."""
    vectors = embedder.embed([embedder.query_input(first), embedder.query_input(second)])
    return float(vectors[0] @ vectors[1])
