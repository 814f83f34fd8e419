"""The fake Gemini's embeddings: deterministic vectors that put texts sharing words (or parts of words) close.

A hashed bag of features: each word and each character trigram of it adds to one signed dimension, so
"open" and "opening" share most of their features, and a few concept groups (hours, prices, places, bookings...)
stand in for meaning, so "when are you open?" lands near a chunk about office hours without sharing a word
with it. Like real embedding models (whose vectors all lean one way), unrelated texts are not orthogonal: a
shared component gives them a cosine similarity of about 0.5, so KNOWLEDGE_MIN_SCORE means much the same here
and with Gemini.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

DEFAULT_DIMENSIONS = 256
MAX_DIMENSIONS = 3072
# Weight of the shared component against the text's own features (equal: unrelated texts score 0.5).
SHARED = 1.0
TRIGRAM_WEIGHT = 0.5

_WORD = re.compile(r"\w+")
# Words that say nothing about what a text is about; a greeting made of them lands near nothing.
STOP_WORDS = frozenset(
    """a an and are as at be been but by can could do does did for from had has have hello hey hi how i if in
    is it its me my no not of on or our so that the their them there they this to too up us was we were what
    when where which who why will with would you your yours thanks thank please ok okay good morning evening""".split()
)


CONCEPT_WEIGHT = 3.0
_CONCEPTS = {
    "hours": "when open opens opening opened close closes closing closed hours hour today tomorrow "
    "weekend weekends monday tuesday wednesday thursday friday saturday sunday holiday holidays",
    "price": "price prices cost costs fee fees rate rates charge charges pay paid payment much euros euro dollars "
    "expensive cheap quote invoice",
    "place": "where address office located location street floor building directions parking find",
    "booking": "book booking appointment appointments meeting meetings schedule reserve calendar available "
    "availability slot",
    "travel": "travel travelling traveling trip away abroad back return returns returning flight",
    "contact": "phone call email mail reach contact number",
}
_CONCEPT_OF = {word: concept for concept, words in _CONCEPTS.items() for word in words.split()}


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A unit vector of `dimensions` numbers; dimension 0 is the shared component."""
    vector = [0.0] * dimensions
    vector[0] = SHARED
    features = [0.0] * dimensions
    words = _WORD.findall(text.lower())
    content = [word for word in words if word not in STOP_WORDS and not word.isdigit()]
    for word in content or words:  # a text of stop words only ("hi!") still gets a direction of its own
        _add(features, word, 1.0)
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            _add(features, padded[start : start + 3], TRIGRAM_WEIGHT)
    for word in words:
        if (concept := _CONCEPT_OF.get(word)) is not None:
            _add(features, f"concept:{concept}", CONCEPT_WEIGHT)
    norm = math.sqrt(math.fsum(value * value for value in features))
    if norm:
        for index, value in enumerate(features):
            vector[index] += SHARED * value / norm
    total = math.sqrt(math.fsum(value * value for value in vector))
    return [value / total for value in vector]


def _add(features: list[float], feature: str, weight: float) -> None:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    # Dimension 0 is reserved for the shared component; the top bit chooses a sign, so collisions cancel out.
    index = 1 + digest % (len(features) - 1)
    features[index] += weight if digest >> 63 else -weight


def answer(method: str, body: Any) -> dict[str, Any]:
    """The JSON for embedContent or batchEmbedContents, as the Gemini API answers. ValueError: a bad request."""
    if not isinstance(body, dict):
        raise ValueError("Request body must be a JSON object.")
    if method == "embedContent":
        return {"embedding": {"values": _embed_request(body)}}
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ValueError("Request body must have a non-empty 'requests' list.")
    if len(requests) > 100:
        raise ValueError("At most 100 requests can be in one batch.")
    return {"embeddings": [{"values": _embed_request(request)} for request in requests]}


def contents_of(body: Any) -> list[Any]:
    """The contents an embedding request carries, for the request log."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("requests"), list):
        return [request.get("content") for request in body["requests"] if isinstance(request, dict)]
    return [body["content"]] if "content" in body else []


def _embed_request(request: Any) -> list[float]:
    content = request.get("content") if isinstance(request, dict) else None
    if not isinstance(content, dict):
        raise ValueError("Each embedding request needs a 'content' object.")
    parts = content.get("parts") or []
    text = "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    dimensions = request.get("outputDimensionality") or DEFAULT_DIMENSIONS
    if not isinstance(dimensions, int) or not 2 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"outputDimensionality must be a whole number between 2 and {MAX_DIMENSIONS}.")
    return embed(text, dimensions)
