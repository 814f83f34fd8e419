"""Retrieval: the few chunks of a persona's knowledge most relevant to a message, for its prompt.

Cosine similarity between the message's embedding and the stored ones, in process (a few thousand chunks take
milliseconds); words (BM25) when the message cannot be embedded or the chunks have no embeddings. A persona's
chunks are kept in memory for KNOWLEDGE_CACHE_S, so a reply reads nothing from MongoDB most of the time and
costs one embedding call, or none when the persona has no knowledge.
"""

from __future__ import annotations

import asyncio
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from loguru import logger

from bot.ai.embeddings import Embedder, EmbeddingUnavailable
from bot.knowledge.chunks import Chunk
from bot.knowledge.lexical import LexicalIndex
from bot.settings import Settings
from bot.storage import Database
from bot.storage.models import KnowledgeChunk

# Longest message text embedded or searched; a question is at its start, and an essay costs tokens for nothing.
QUERY_MAX_CHARS = 2000


@dataclass
class _Knowledge:
    """A persona's chunks as loaded: the chunks without their vectors; the vectors apart, with their lengths and
    the model that made each. Plain lists: summing their products is twice as fast as over compact arrays."""

    loaded_at: float
    chunks: list[KnowledgeChunk]
    vectors: list[list[float] | None]
    norms: list[float]
    models: list[str | None]

    @cached_property
    def lexical(self) -> LexicalIndex:
        """Built on first use: while every chunk is embedded and Gemini answers, words are never searched."""
        return LexicalIndex([Chunk(chunk.heading, chunk.text).searchable for chunk in self.chunks])


class Retriever:
    def __init__(
        self,
        db: Database,
        embedder: Embedder | None,
        *,
        k: int = 3,
        min_score: float = 0.6,
        cache_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`embedder` None: words only. `min_score`: the cosine similarity a chunk needs to be relevant."""
        self._db = db
        self._embedder = embedder
        self._k = k
        self._min_score = min_score
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, _Knowledge] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(cls, db: Database, embedder: Embedder | None, settings: Settings) -> Retriever:
        return cls(
            db,
            embedder,
            k=settings.knowledge_chunks,
            min_score=settings.knowledge_min_score,
            cache_s=settings.knowledge_cache_s,
        )

    async def relevant(self, persona: str, query: str) -> list[KnowledgeChunk]:
        """The most relevant chunks first (at most k, maybe none); never raises for AI trouble.

        The chunks come without their embeddings (`embedding` None): the prompt needs only their text.
        """
        query = query.strip()[:QUERY_MAX_CHARS]
        if self._k <= 0 or not query:
            return []
        knowledge = await self._knowledge(persona)
        if not knowledge.chunks:
            return []
        found: list[int] = []
        if (vector := await self._embed(query, knowledge)) is not None:
            found = self._by_similarity(vector, knowledge)
            # Chunks stored without an embedding (added while Gemini was unavailable) are searched by words.
            unembedded = {i for i, model in enumerate(knowledge.models) if model != self._model}
            if unembedded and len(found) < self._k:
                found += [i for i, _ in knowledge.lexical.search(query, len(knowledge.chunks)) if i in unembedded]
        else:
            found = [i for i, _ in knowledge.lexical.search(query, self._k)]
        return [knowledge.chunks[i] for i in found[: self._k]]

    def invalidate(self, persona: str | None = None) -> None:
        """Forget the cached knowledge (of one persona, or all): the next reply reads it again."""
        if persona is None:
            self._cache.clear()
        else:
            self._cache.pop(persona, None)

    @property
    def _model(self) -> str | None:
        return self._embedder.model if self._embedder is not None else None

    async def _embed(self, query: str, knowledge: _Knowledge) -> list[float] | None:
        """The query's unit vector, or None: no embedder, no chunk embedded by its model, or Gemini failed."""
        if self._embedder is None or self._model not in knowledge.models:
            return None
        try:
            return _unit(await self._embedder.embed_query(query))
        except EmbeddingUnavailable as error:
            logger.warning("knowledge: the message could not be embedded ({}); searching by words", error)
            return None

    def _by_similarity(self, query: list[float], knowledge: _Knowledge) -> list[int]:
        scored = []
        for position, vector in enumerate(knowledge.vectors):
            if vector is None or knowledge.models[position] != self._model or len(vector) != len(query):
                continue
            score = sum(map(operator.mul, query, vector)) / knowledge.norms[position]
            if score >= self._min_score:
                scored.append((score, position))
        scored.sort(key=lambda item: -item[0])
        return [position for _, position in scored[: self._k]]

    async def _knowledge(self, persona: str) -> _Knowledge:
        cached = self._cache.get(persona)
        if cached is not None and self._clock() - cached.loaded_at < self._cache_s:
            return cached
        # One load per persona at a time: a burst of messages does not read the same chunks ten times over.
        lock = self._locks.setdefault(persona, asyncio.Lock())
        async with lock:
            cached = self._cache.get(persona)
            if cached is not None and self._clock() - cached.loaded_at < self._cache_s:
                return cached
            stored = await self._db.knowledge.chunks(persona)
            # Thousands of vectors take a moment to convert: in a thread, so other conversations go on meanwhile.
            knowledge = await asyncio.to_thread(_load, stored, self._clock())
            self._cache[persona] = knowledge
            return knowledge


def _load(stored: list[KnowledgeChunk], now: float) -> _Knowledge:
    vectors: list[list[float] | None] = []
    norms: list[float] = []
    models: list[str | None] = []
    for chunk in stored:
        norm = math.hypot(*chunk.embedding) if chunk.embedding else 0.0
        vectors.append(chunk.embedding if norm else None)
        norms.append(norm or 1.0)
        models.append(chunk.embedding_model if norm else None)
    chunks = [chunk.model_copy(update={"embedding": None}) for chunk in stored]
    return _Knowledge(now, chunks, vectors, norms, models)


def _unit(vector: list[float]) -> list[float] | None:
    norm = math.hypot(*vector)
    return [value / norm for value in vector] if norm else None
