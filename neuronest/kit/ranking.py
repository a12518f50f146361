"""Relevance ranking (Okapi BM25) computed in Python, so it ranks alike on PostgreSQL and SQLite.

Ranking grows with the text scanned, so callers hand over a bounded candidate set
(`NEURONEST_SEARCH_MAX_CANDIDATES`, `NEURONEST_SEARCH_MAX_BYTES`) and `rank_bounded` runs it in
a worker process, off the event loop.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from neuronest.config import Settings
from neuronest.errors import Unavailable
from neuronest.kit.offload import BudgetExceeded, run_bounded

_WORD = re.compile(r"\w+", re.UNICODE)
K1 = 1.5
B = 0.75


def terms(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if len(word) > 1 or word.isdigit()]


def _text(document: str | bytes) -> str:
    if isinstance(document, str):
        return document
    try:
        return document.decode()
    except UnicodeDecodeError:
        return ""  # binary files are not searched


def rank(query: str, documents: Sequence[str | bytes], limit: int = 5) -> list[tuple[int, float]]:
    """Indexes of the documents that share words with `query`, best first, with their scores."""
    wanted = set(terms(query))
    if not wanted or not documents:
        return []
    counted = [Counter(terms(_text(document))) for document in documents]
    lengths = [sum(counts.values()) for counts in counted]
    average = sum(lengths) / len(counted) or 1.0
    frequency = Counter(term for counts in counted for term in wanted if term in counts)
    total = len(counted)
    scored: list[tuple[int, float]] = []
    for index, counts in enumerate(counted):
        score = 0.0
        for term in wanted:
            tf = counts.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (total - frequency[term] + 0.5) / (frequency[term] + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[index] / average))
        if score > 0:
            scored.append((index, score))
    scored.sort(key=lambda pair: pair[1], reverse=True)
    return scored[:limit]


async def rank_bounded(
    query: str, documents: Sequence[str | bytes], limit: int, settings: Settings
) -> list[tuple[int, float]]:
    """`rank` in a worker process; `Unavailable` if it overruns `NEURONEST_SEARCH_TIMEOUT`."""
    if not terms(query) or not documents:
        return []
    try:
        return await run_bounded(
            rank,
            query,
            list(documents),
            limit,
            timeout=settings.search_timeout,
            workers=settings.offload_workers,
            memory_bytes=settings.offload_memory_bytes,
        )
    except BudgetExceeded as error:
        raise Unavailable(f"search: ranking exceeded its budget: {error}") from None


def within_budget(sizes: Sequence[tuple[str, int]], max_bytes: int) -> list[str]:
    """The ids, in the order given (newest first), whose sizes add up to at most `max_bytes`."""
    chosen: list[str] = []
    used = 0
    for identifier, size in sizes:
        if used + size > max_bytes:
            continue  # a smaller, older one may still fit
        used += size
        chosen.append(identifier)
    return chosen
