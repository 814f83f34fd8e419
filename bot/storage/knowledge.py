"""Knowledge: chunks of the operator's documents, per persona, with their embeddings.

A document is known by its persona and file name (`source`); its `document_id` is a hash of its content, so
adding a file again replaces the chunks of its previous version, and adding the same content again changes
nothing (unless it can now be embedded, or embedded by another model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.storage.models import KnowledgeChunk

# `kb list` shows document ids this long; `kb remove` takes any prefix of 6 characters or more.
SHORT_ID = 12
_HEX = re.compile(r"[0-9a-f]{6,64}")


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One stored document, as `kb list` shows it."""

    persona: str
    source: str
    document_id: str
    chunks: int
    embedded_chunks: int
    embedding_model: str | None
    added_at: datetime

    @property
    def embedded(self) -> bool:
        return self.chunks > 0 and self.embedded_chunks == self.chunks


class KnowledgeRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def replace_document(self, persona: str, source: str, document_id: str, chunks: list[KnowledgeChunk]) -> bool:
        """Store `chunks` as the document, in place of its previous version (same source, or same content under
        another name); False when the stored chunks already are this content, embedded at least as well."""
        old = await self._stored(persona, source, document_id)
        if old and _is_current(old, source, document_id, _model_of(chunks)):
            return False
        if chunks:
            # New chunks first, old ones after: a reader never finds the document missing.
            await self._collection.insert_many([chunk.to_mongo() for chunk in chunks])
        if old:
            await self._collection.delete_many({"_id": {"$in": [raw["_id"] for raw in old]}})
        return True

    async def is_current(self, persona: str, source: str, document_id: str, embedding_model: str | None) -> bool:
        """Whether adding this content again would change nothing (asked before paying for embeddings)."""
        old = await self._stored(persona, source, document_id)
        return bool(old) and _is_current(old, source, document_id, embedding_model)

    async def _stored(self, persona: str, source: str, document_id: str) -> list[dict[str, Any]]:
        """The stored chunks of a document's previous versions, without their text or vectors."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"persona": persona, "$or": [{"source": source}, {"document_id": document_id}]}},
            {
                "$project": {
                    "source": 1,
                    "document_id": 1,
                    "embedding_model": 1,
                    "embedded": {"$isArray": "$embedding"},
                }
            },
        ]
        return [raw async for raw in await self._collection.aggregate(pipeline)]

    async def documents(self, persona: str | None = None) -> list[DocumentInfo]:
        """Every stored document (of one persona, or all), by persona and source."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"persona": persona} if persona is not None else {}},
            {
                "$group": {
                    "_id": {"persona": "$persona", "source": "$source", "document_id": "$document_id"},
                    "chunks": {"$sum": 1},
                    "embedded": {"$sum": {"$cond": [{"$isArray": "$embedding"}, 1, 0]}},
                    "model": {"$max": "$embedding_model"},
                    "added_at": {"$min": "$created_at"},
                }
            },
            {"$sort": {"_id.persona": 1, "_id.source": 1}},
        ]
        cursor = await self._collection.aggregate(pipeline)
        return [
            DocumentInfo(
                persona=row["_id"]["persona"],
                source=row["_id"]["source"],
                document_id=row["_id"]["document_id"],
                chunks=row["chunks"],
                embedded_chunks=row["embedded"],
                embedding_model=row.get("model"),
                added_at=row["added_at"],
            )
            async for row in cursor
        ]

    async def remove(self, source_or_document_id: str, persona: str | None = None) -> int:
        """Delete a document by file name or document id (a prefix of 6 characters or more will do); returns the
        number of chunks removed."""
        name = source_or_document_id.strip()
        matches: list[dict[str, Any]] = [{"source": name}]
        if _HEX.fullmatch(name):
            matches.append({"document_id": {"$regex": f"^{name}"}})
        query: dict[str, Any] = {"$or": matches}
        if persona is not None:
            query["persona"] = persona
        result = await self._collection.delete_many(query)
        return int(result.deleted_count)

    async def chunks(self, persona: str) -> list[KnowledgeChunk]:
        """The persona's chunks, by document and position, embeddings included."""
        cursor = self._collection.find({"persona": persona}).sort([("source", 1), ("position", 1)])
        return [KnowledgeChunk.from_mongo(raw) async for raw in cursor]


def _model_of(chunks: list[KnowledgeChunk]) -> str | None:
    """The model that embedded every chunk, or None if some chunk has no embedding."""
    models = {chunk.embedding_model if chunk.embedding is not None else None for chunk in chunks}
    return models.pop() if len(models) == 1 else None


def _is_current(old: list[dict[str, Any]], source: str, document_id: str, embedding_model: str | None) -> bool:
    same = all(raw.get("source") == source and raw.get("document_id") == document_id for raw in old)
    if not same:
        return False
    if embedding_model is None:
        return True  # nothing better to offer: keep what is stored, embedded or not
    return all(raw.get("embedded") and raw.get("embedding_model") == embedding_model for raw in old)
