"""Plain data of a question answered from the library: turns, citations, answers.

They cross the engine's door, so they are defined in records.py; this name stays for the
modules that answer questions.
"""

from __future__ import annotations

from embeddinggemma_rag.core.records import Answer as Answer
from embeddinggemma_rag.core.records import Citation as Citation
from embeddinggemma_rag.core.records import Turn as Turn
