"""Embedder through the real google-genai SDK: against the simulator's fake Gemini, and a recording server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.ai.embeddings import BATCH_SIZE, DIMENSIONS, Embedder, EmbeddingUnavailable
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from tests.cli_helpers import free_port
from tests.local_server import serve

MakeEmbedder = Callable[..., Embedder]


def settings_for(base_url: str, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        gemini_api_key="test-key",  # type: ignore[arg-type]
        gemini_base_url=base_url,
        **overrides,
    )


@pytest.fixture
async def make_embedder() -> AsyncIterator[MakeEmbedder]:
    made: list[Embedder] = []

    def make(base_url: str, **overrides: Any) -> Embedder:
        made.append(Embedder.from_settings(settings_for(base_url, **overrides)))
        return made[-1]

    yield make
    for embedder in made:
        await embedder.close()


def embed_calls(simulator: Simulator) -> list[dict[str, Any]]:
    return [r for r in simulator.gemini.requests if r["method"] in ("batchEmbedContents", "embedContent")]


async def test_documents_get_one_vector_each_in_order(simulator: Simulator, make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder(simulator.gemini_base_url)
    texts = ["Office hours: Monday to Friday", "Rates for a first consultation", "Office hours: Monday to Friday"]
    vectors = await embedder.embed_documents(texts)
    assert len(vectors) == 3 and all(len(vector) == DIMENSIONS for vector in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    [call] = embed_calls(simulator)
    assert call["model"] == "gemini-embedding-001" and call["method"] == "batchEmbedContents"
    assert [content["text"] for content in call["contents"]] == texts


async def test_many_documents_go_in_batches(simulator: Simulator, make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder(simulator.gemini_base_url)
    texts = [f"chunk number {i}" for i in range(2 * BATCH_SIZE + 5)]
    vectors = await embedder.embed_documents(texts)
    assert len(vectors) == len(texts)
    assert [len(call["contents"]) for call in embed_calls(simulator)] == [BATCH_SIZE, BATCH_SIZE, 5]


async def test_no_texts_cost_no_call(simulator: Simulator, make_embedder: MakeEmbedder) -> None:
    assert await make_embedder(simulator.gemini_base_url).embed_documents([]) == []
    assert embed_calls(simulator) == []


async def test_the_model_setting_is_used(simulator: Simulator, make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder(simulator.gemini_base_url, embedding_model="text-embedding-004")
    assert embedder.model == "text-embedding-004"
    await embedder.embed_query("when are you open?")
    assert [call["model"] for call in embed_calls(simulator)] == ["text-embedding-004"]


async def test_task_types_and_the_wire_shape(make_embedder: MakeEmbedder) -> None:
    """What the SDK sends for each use, and that the answer's JSON shape is what it reads."""
    seen: list[tuple[str, dict[str, Any]]] = []

    async def batch(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((request.path, body))
        return web.json_response({"embeddings": [{"values": [1.0, float(i)]} for i in range(len(body["requests"]))]})

    app = web.Application()
    app.router.add_post("/{tail:.*}", batch)
    async with serve(app) as base_url:
        embedder = make_embedder(base_url)
        assert await embedder.embed_documents(["a", "b"]) == [[1.0, 0.0], [1.0, 1.0]]
        assert await embedder.embed_query("c") == [1.0, 0.0]
    (document_path, documents), (_, query) = seen
    assert document_path.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert [r["taskType"] for r in documents["requests"]] == ["RETRIEVAL_DOCUMENT", "RETRIEVAL_DOCUMENT"]
    assert [r["taskType"] for r in query["requests"]] == ["RETRIEVAL_QUERY"]
    assert {r["outputDimensionality"] for r in documents["requests"]} == {DIMENSIONS}
    assert documents["requests"][1]["content"]["parts"] == [{"text": "b"}]


async def test_a_short_answer_is_unavailable(make_embedder: MakeEmbedder) -> None:
    async def one_too_few(request: web.Request) -> web.Response:
        return web.json_response({"embeddings": [{"values": [1.0]}]})

    app = web.Application()
    app.router.add_post("/{tail:.*}", one_too_few)
    async with serve(app) as base_url:
        with pytest.raises(EmbeddingUnavailable, match="1 embeddings for 2 texts"):
            await make_embedder(base_url).embed_documents(["a", "b"])


@pytest.mark.parametrize(("status", "expected"), [(503, "HTTP 503 UNAVAILABLE"), (404, "HTTP 404 NOT_FOUND")])
async def test_api_errors_are_unavailable(
    simulator: Simulator, sim: SimulatorClient, make_embedder: MakeEmbedder, status: int, expected: str
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=status)
    embedder = make_embedder(simulator.gemini_base_url)
    with pytest.raises(EmbeddingUnavailable, match=expected):
        await embedder.embed_query("when are you open?")
    assert len(embed_calls(simulator)) == 1  # no retry hidden in the SDK
    assert len(await embedder.embed_query("when are you open?")) == DIMENSIONS


async def test_a_hung_call_ends_at_the_timeout(
    simulator: Simulator, sim: SimulatorClient, make_embedder: MakeEmbedder
) -> None:
    await sim.gemini_behaviour(hang_next=1)
    embedder = make_embedder(simulator.gemini_base_url, embedding_timeout_s=0.3)
    async with asyncio.timeout(10):
        with pytest.raises(EmbeddingUnavailable, match="EMBEDDING_TIMEOUT_S"):
            await embedder.embed_query("anyone there?")


async def test_an_unreachable_endpoint_is_unavailable(make_embedder: MakeEmbedder) -> None:
    embedder = make_embedder(f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(EmbeddingUnavailable):
        await embedder.embed_documents(["nobody listens"])


def test_without_a_key_there_is_no_embedder() -> None:
    settings = Settings(_env_file=None, gemini_api_key=None)  # type: ignore[call-arg]
    with pytest.raises(EmbeddingUnavailable, match="GEMINI_API_KEY not set"):
        Embedder.from_settings(settings)
