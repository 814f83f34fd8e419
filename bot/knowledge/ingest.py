"""Adding a document to a persona's knowledge: read, chunk, embed when possible, store.

Embeddings are a bonus, never a condition: when Gemini cannot embed, the chunks are stored without them and
retrieval searches them by words; adding the same file again later embeds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.ai.embeddings import Embedder, EmbeddingUnavailable
from bot.knowledge.chunks import split_text
from bot.knowledge.documents import UnreadableDocument, document_id, read_document
from bot.storage import Database
from bot.storage.models import KnowledgeChunk

LEXICAL_NOTE = "lexical search will be used"


@dataclass(frozen=True, slots=True)
class Added:
    """What became of one file. `error`: it could not be read, and nothing of it was stored."""

    path: Path
    chunks: int = 0
    embedded: bool = False
    unchanged: bool = False
    error: str | None = None
    no_embeddings: str | None = None


class Ingester:
    """Adds files to one persona's knowledge. After one failed embedding call the rest of the files are stored
    without embeddings: a model that is missing or down would otherwise cost a timeout per file."""

    def __init__(
        self,
        db: Database,
        persona: str,
        embedder: Embedder | None,
        *,
        no_embedder_reason: str = "GEMINI_API_KEY not set",
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._db = db
        self._persona = persona
        self._embedder = embedder
        self._no_embeddings = None if embedder is not None else no_embedder_reason
        self._progress = progress

    async def add(self, path: Path) -> Added:
        name = path.name
        try:
            text = read_document(path)
        except UnreadableDocument as error:
            self._progress(f"{name}: cannot be read: {error}; nothing of it was stored")
            return Added(path, error=str(error))
        pieces = split_text(text)
        if not pieces:
            reason = "only headings, no text under them"
            self._progress(f"{name}: cannot be read: {reason}; nothing of it was stored")
            return Added(path, error=reason)
        doc_id = document_id(text)
        self._progress(f"{name}: read, {len(pieces)} chunk{'s' if len(pieces) != 1 else ''}")
        model = self._embedder.model if self._embedder is not None and self._no_embeddings is None else None
        if await self._db.knowledge.is_current(self._persona, name, doc_id, model):
            self._progress(f"{name}: unchanged (already in the knowledge base)")
            return Added(path, chunks=len(pieces), unchanged=True)
        vectors = await self._embed([piece.searchable for piece in pieces])
        chunks = [
            KnowledgeChunk(
                persona=self._persona,
                source=name,
                document_id=doc_id,
                position=position,
                heading=piece.heading,
                text=piece.text,
                embedding=vectors[position] if vectors else None,
                embedding_model=self._embedder.model if vectors and self._embedder else None,
            )
            for position, piece in enumerate(pieces)
        ]
        await self._db.knowledge.replace_document(self._persona, name, doc_id, chunks)
        if vectors:
            self._progress(f"{name}: embedded ({chunks[0].embedding_model}), stored")
        else:
            self._progress(f"{name}: stored; no embeddings: {self._no_embeddings} - {LEXICAL_NOTE}")
        missing = None if vectors else self._no_embeddings
        return Added(path, chunks=len(chunks), embedded=bool(vectors), no_embeddings=missing)

    async def _embed(self, texts: list[str]) -> list[list[float]] | None:
        if self._embedder is None or self._no_embeddings is not None or not texts:
            return None
        try:
            return await self._embedder.embed_documents(texts)
        except EmbeddingUnavailable as error:
            self._no_embeddings = f"model unavailable ({error})"
            return None
