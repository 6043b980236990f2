"""EmbeddingGemma's task prompts: the text put before every model input."""

from __future__ import annotations

import json
from pathlib import Path

QUERY_PROMPT = "task: search result | query: "
DOCUMENT_PROMPT_TEMPLATE = "title: {title} | text: "

# The model card's prompts, used when the model folder has no config_sentence_transformers.json.
BUILTIN_PROMPTS: dict[str, str] = {
    "query": QUERY_PROMPT,
    "document": DOCUMENT_PROMPT_TEMPLATE.format(title="none"),
    "STS": "task: sentence similarity | query: ",
    "Classification": "task: classification | query: ",
    "Clustering": "task: clustering | query: ",
    "CodeRetrieval": "task: code retrieval | query: ",
}


def document_prompt(title: str | None) -> str:
    """`title: {title} | text: `, with `none` when the document has no title."""
    clean = " ".join((title or "").split()) or "none"
    return DOCUMENT_PROMPT_TEMPLATE.format(title=clean)


def load_prompts(model_dir: Path) -> dict[str, str]:
    """The built-in prompts, overlaid by those the model folder declares."""
    prompts = dict(BUILTIN_PROMPTS)
    config = model_dir / "config_sentence_transformers.json"
    try:
        declared = json.loads(config.read_text(encoding="utf-8")).get("prompts", {})
    except (OSError, ValueError, AttributeError):
        declared = {}
    if isinstance(declared, dict):
        prompts.update({str(k): str(v) for k, v in declared.items()})
    return prompts
