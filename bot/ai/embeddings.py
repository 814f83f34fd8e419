"""Text embeddings from Gemini's embedding endpoint, for the knowledge base and the messages that search it.

No retries here: `kb add` stores chunks without embeddings when embedding fails, and a reply searches its
knowledge by words instead. Either way nothing waits on a second call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from bot.ai.client import gemini_client
from bot.ai.responder import describe_error
from bot.errors import AIError
from bot.settings import Settings

# The Gemini API takes at most 100 texts per batchEmbedContents request.
BATCH_SIZE = 100
# gemini-embedding-001 answers 3072 numbers by default; 768 keeps most of the quality (Google's own advice) at a
# quarter of the storage and of the in-process cosine work. Cosine similarity does not need unit vectors.
DIMENSIONS = 768

DOCUMENT = "RETRIEVAL_DOCUMENT"
QUERY = "RETRIEVAL_QUERY"


class EmbeddingUnavailable(AIError):
    """No embeddings could be had (no key, the model refused, Gemini down or slow); the message says why."""


class Embedder:
    """One google-genai client; `model` is recorded with every stored embedding (vectors of two models differ)."""

    def __init__(
        self, client: genai.Client, *, model: str, timeout_s: float, dimensions: int | None = DIMENSIONS
    ) -> None:
        """`client` must not retry by itself (see from_settings): a reply must not wait out hidden retries."""
        self._client = client
        self.model = model
        self._timeout_s = timeout_s
        self._dimensions = dimensions

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """Raises EmbeddingUnavailable without a GEMINI_API_KEY (callers then search by words)."""
        if settings.gemini_api_key is None:
            raise EmbeddingUnavailable("GEMINI_API_KEY not set")
        return cls(gemini_client(settings), model=settings.embedding_model, timeout_s=settings.embedding_timeout_s)

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batches of BATCH_SIZE, each call within the timeout."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            vectors.extend(await self._embed(list(texts[start : start + BATCH_SIZE]), DOCUMENT))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        [vector] = await self._embed([text], QUERY)
        return vector

    async def _embed(self, texts: list[str], task_type: str) -> list[list[float]]:
        config = types.EmbedContentConfig(task_type=task_type, output_dimensionality=self._dimensions)
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.aio.models.embed_content(
                    model=self.model,
                    contents=list(texts),
                    config=config,
                )
        except TimeoutError as error:
            raise EmbeddingUnavailable(f"no answer within {self._timeout_s:g} s (EMBEDDING_TIMEOUT_S)") from error
        except (
            genai_errors.APIError,
            genai_errors.UnknownApiResponseError,
            aiohttp.ClientError,
            OSError,
            ValueError,  # a malformed answer (pydantic's ValidationError is one)
        ) as error:
            raise EmbeddingUnavailable(describe_error(error)) from error
        embeddings = response.embeddings or []
        vectors = [list(embedding.values or []) for embedding in embeddings]
        if len(vectors) != len(texts) or not all(vectors):
            raise EmbeddingUnavailable(f"Gemini answered {len(vectors)} embeddings for {len(texts)} texts")
        return vectors

    async def close(self) -> None:
        await self._client.aio.aclose()
