#!/usr/bin/env sh
# Regenerate the tiny models committed under tests/data/models (needs torch; the tests do not).
# Both generators are seeded and deterministic: rerunning must leave `git status` clean.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m models.generate_embedding_model --size tiny --seed 0 \
    --out tests/data/models/tiny-embeddinggemma
"$PYTHON" -m models.generate_chat_model --size tiny --seed 0 \
    --out tests/data/models/tiny-chat.gguf
