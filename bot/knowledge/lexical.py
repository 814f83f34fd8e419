"""Word search (BM25) over a persona's chunks: what retrieval falls back to when there are no embeddings."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

# BM25's usual constants: how fast repeated words stop counting, and how much long chunks are discounted.
K1 = 1.2
B = 0.75
# A chunk scoring below this share of the best one is noise next to it (one common word in common).
RELATIVE_CUTOFF = 0.3

_WORD = re.compile(r"\w+")
# Words that say nothing about what was asked; a greeting made only of them matches nothing. English only:
# in other languages such words weigh little anyway, as they occur in most chunks (low idf).
STOP_WORDS = frozenset(
    """a about all am an and any are as at be been but by can could did do does for from get got had has have
    hello hey hi how i if in into is it its just me my no not of ok okay on or our please so some than thank
    thanks that the their them then there these they this to too up us was we were what when where which who
    why will with would yes you your""".split()
)
_SUFFIXES = ("ings", "ing", "ies", "ed", "es", "s")


def terms(text: str) -> list[str]:
    """The words of `text` that carry meaning, lower-cased and lightly stemmed ("opening" and "opens": "open")."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            return stem + "y" if suffix == "ies" else stem
    return word


class LexicalIndex:
    """BM25 over documents given once; `search` answers positions into them, best first."""

    def __init__(self, documents: Sequence[str]) -> None:
        self._counts = [Counter(terms(document)) for document in documents]
        self._lengths = [sum(counts.values()) for counts in self._counts]
        self._average = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        frequency: Counter[str] = Counter()
        for counts in self._counts:
            frequency.update(counts.keys())
        total = len(self._counts)
        self._idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}

    def search(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(position, score) of the chunks sharing a meaningful word with `query`, best first."""
        wanted = set(terms(query)) & self._idf.keys()
        if not wanted or limit <= 0:
            return []
        scores = []
        for position, counts in enumerate(self._counts):
            score = 0.0
            for term in wanted:
                if count := counts.get(term):
                    norm = K1 * (1 - B + B * self._lengths[position] / (self._average or 1))
                    score += self._idf[term] * count * (K1 + 1) / (count + norm)
            if score > 0:
                scores.append((position, score))
        scores.sort(key=lambda item: -item[1])
        if not scores:
            return []
        best = scores[0][1]
        return [(position, score) for position, score in scores[:limit] if score >= best * RELATIVE_CUTOFF]
