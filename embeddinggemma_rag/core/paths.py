"""Where the library, the settings and the models live on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_DIR_NAME = "EmbeddingGemmaRAG"

DATA_DIR_ENV = "EMBEDDINGGEMMA_RAG_DATA_DIR"
EMBEDDING_MODEL_ENV = "EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL"
GENERATOR_MODEL_ENV = "EMBEDDINGGEMMA_RAG_GENERATOR_MODEL"
CONFIG_DIR_ENV = "EMBEDDINGGEMMA_RAG_CONFIG_DIR"
MODELS_DIR_ENV = "EMBEDDINGGEMMA_RAG_MODELS_DIR"
CACHE_DIR_ENV = "EMBEDDINGGEMMA_RAG_CACHE_DIR"


def default_data_dir() -> Path:
    """The library: index, database and conversations."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False)) / "library"


def config_dir() -> Path:
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False))


def models_dir() -> Path:
    """Where downloaded and imported models are kept, apart from any one library."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False)) / "models"


def cache_dir() -> Path:
    """Files derived from others and safe to delete (a compact copy of a tokenizer...)."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False))


def physical_cores() -> int:
    """Physical cores: model kernels gain nothing from hyper-threads and lose to contention."""
    logical = os.cpu_count() or 1
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            cores: set[tuple[str, str]] = set()
            physical_id = core_id = ""
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    physical_id = value.strip()
                elif key == "core id":
                    core_id = value.strip()
                    cores.add((physical_id, core_id))
        if cores:
            return max(1, min(len(cores), logical))
    except OSError:
        pass
    return logical
