"""Second questions in a conversation: does the app search the question's own subject, or
the one the conversation was on? Measured through `Engine.retrieve`, as `Engine.ask` searches.

On XQuAD (Wikipedia paragraphs, several questions each), a pair of questions stands for two
turns: the first question with the start of its paragraph as the answer before, then the
second. A new subject: the second question is about a paragraph of another article. The same
subject: both are about one paragraph, so searching with the conversation is right. For each,
the share of second questions whose paragraph is among the first 3 passages (about what the
prompt holds at the default budget) and the first `top_k`, searched alone, together with the
conversation (the app before this measurement), and as the app does now; and where the
questions' cosine to the conversation falls against `FOLLOW_UP_COSINE`.
`--only follow_up`; shares the retrieval section's scratch libraries.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Context, Section, log
from benchmarks.retrieval import (
    PreparedSet,
    default_eval_dirs,
    documents_ranked,
    find_sets,
    prepare_set,
)

PAIRS = 150  # per set and kind: the shares move by about 2 points between seeds
PAIR_SEED = 11
ANSWER_CHARS = 300  # the first answer stands in as the start of its paragraph


def run(ctx: Context) -> Section:
    from embeddinggemma_rag.core.answering.ask import FOLLOW_UP_COSINE, SURE_FOLLOW_UP_COSINE
    from embeddinggemma_rag.core.settings import Settings

    if ctx.embedding_model is None:
        raise RuntimeError("follow_up needs a real embedding model (README, Models)")
    folders = find_sets(list(ctx.eval_sets) or default_eval_dirs())
    folders = [f for f in folders if f.name.startswith("xquad")]
    top_k = Settings().top_k
    section = Section(
        "follow_up",
        f"Second questions: their own subject's paragraph in the top 3 / {top_k} "
        f"(follow-up at cosine >= {FOLLOW_UP_COSINE}, sure at {SURE_FOLLOW_UP_COSINE})",
    )
    for folder in folders:
        log(f"follow_up: {folder.name}")
        prepared = prepare_set(folder, Path(ctx.embedding_model), ctx)
        try:
            for kind in ("new subject", "same paragraph"):
                figures = measure(prepared, kind == "same paragraph", top_k)
                section.details[f"{folder.name} {kind}"] = figures
                share = {
                    way: f"{figures[way]['top3']:.1%} ({figures[way]['topk']:.1%})"
                    for way in ("alone", "conversation", "app")
                }
                section.add(
                    f"{folder.name}, {kind}: top 3 (top {top_k}); cosine to the conversation "
                    f"median {figures['cosine_median']:.3f} (highest {figures['cosine_max']:.3f}); "
                    f"follow-ups {figures['followup_share']:.0%}, "
                    f"sure {figures['sure_followup_share']:.0%}",
                    share["app"],
                    f"alone {share['alone']} · with the conversation {share['conversation']}",
                )
        finally:
            prepared.engine.close()
    return section


def measure(prepared: PreparedSet, same: bool, top_k: int) -> dict[str, Any]:
    """Shares of second questions whose paragraph the three ways of searching find."""
    from embeddinggemma_rag.core.answering.ask import (
        FOLLOW_UP_COSINE,
        SURE_FOLLOW_UP_COSINE,
        conversation_context,
        retrieval_query,
    )
    from embeddinggemma_rag.core.engine import query_cosine
    from embeddinggemma_rag.core.records import Turn

    beir, engine = prepared.beir, prepared.engine
    relevant = {q: next(iter(judged)) for q, judged in beir.qrels.items() if q in beir.queries}
    pairs = question_pairs(relevant, same)
    found: dict[str, list[tuple[bool, bool]]] = {"alone": [], "conversation": [], "app": []}
    cosines = []
    for first, second in pairs:
        answer = beir.documents[relevant[first]][1][:ANSWER_CHARS]
        history = [Turn(beir.queries[first], answer)]
        question, wanted = beir.queries[second], relevant[second]
        ways = {
            "alone": engine.search(question, k=top_k),
            "conversation": engine.search(retrieval_query(question, history), k=top_k),
            "app": engine.retrieve(question, history, k=top_k).hits,
        }
        for way, hits in ways.items():
            ranked = documents_ranked([h.path for h in hits], prepared.stems)
            found[way].append((wanted in ranked[:3], wanted in ranked[:top_k]))
        context = conversation_context(history)
        cosines.append(query_cosine(engine.embedder, question, context))
    figures: dict[str, Any] = {
        way: {
            "top3": float(np.mean([a for a, _ in rows])),
            "topk": float(np.mean([b for _, b in rows])),
        }
        for way, rows in found.items()
    }
    figures["pairs"] = len(pairs)
    figures["cosine_median"] = float(np.median(cosines))
    figures["cosine_percentiles_10_90"] = [float(v) for v in np.percentile(cosines, [10, 90])]
    figures["followup_share"] = float(np.mean([c >= FOLLOW_UP_COSINE for c in cosines]))
    figures["sure_followup_share"] = float(np.mean([c >= SURE_FOLLOW_UP_COSINE for c in cosines]))
    figures["cosine_max"] = float(np.max(cosines))
    return figures


def question_pairs(relevant: dict[str, str], same: bool) -> list[tuple[str, str]]:
    """Seeded pairs of questions: about one paragraph, or about two different articles
    (XQuAD's document ids are xquad-ARTICLE-PARAGRAPH)."""
    rng = random.Random(PAIR_SEED)
    questions = sorted(relevant)
    article = {q: relevant[q].split("-")[1] for q in questions}
    pairs: list[tuple[str, str]] = []
    while len(pairs) < PAIRS:
        first, second = rng.sample(questions, 2)
        one_paragraph = relevant[first] == relevant[second]
        if one_paragraph if same else article[first] != article[second]:
            pairs.append((first, second))
    return pairs
