"""Knowledge: chunks of the operator's documents, per persona, with their embeddings (to be written)."""

from __future__ import annotations

from typing import Any


class KnowledgeRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection
