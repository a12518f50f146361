"""Relevance ranking (Okapi BM25) computed in Python, so it ranks alike on PostgreSQL and SQLite."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
_WORD = re.compile(r"\w+", re.UNICODE)
K1 = 1.5
B = 0.75


def terms(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if len(word) > 1 or word.isdigit()]


def rank(query: str, documents: Sequence[tuple[T, str]], limit: int = 5) -> list[tuple[T, float]]:
    """The documents that share words with `query`, best first, with their scores."""
    wanted = set(terms(query))
    if not wanted or not documents:
        return []
    counted = [(item, Counter(terms(text))) for item, text in documents]
    average = sum(sum(c.values()) for _, c in counted) / len(counted) or 1.0
    frequency = Counter(term for _, c in counted for term in wanted if term in c)
    total = len(counted)
    scored: list[tuple[T, float]] = []
    for item, counts in counted:
        length = sum(counts.values())
        score = 0.0
        for term in wanted:
            tf = counts.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (total - frequency[term] + 0.5) / (frequency[term] + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        if score > 0:
            scored.append((item, score))
    scored.sort(key=lambda pair: pair[1], reverse=True)
    return scored[:limit]
