"""The knowledge base: the operator's documents, split into chunks per persona, and the retrieval that puts
the few relevant ones into a reply's prompt."""

from bot.knowledge.chunks import Chunk, split_text
from bot.knowledge.documents import UnreadableDocument, read_document
from bot.knowledge.ingest import Added, Ingester
from bot.knowledge.retrieval import Retriever

__all__ = ["Added", "Chunk", "Ingester", "Retriever", "UnreadableDocument", "read_document", "split_text"]
