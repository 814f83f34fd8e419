"""The fake Gemini's embeddings: the vectors themselves, and the endpoint as the real SDK and plain HTTP see it."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from bot.simulator import Simulator
from bot.simulator.embeddings import DEFAULT_DIMENSIONS, embed

HOURS = "Office hours\nThe studio is open Monday to Friday, 9:00 to 18:00. Closed on weekends."
RATES = "Rates\nA first consultation costs 90 euros for one hour; a site visit costs 150 euros."
ADDRESS = "Office address\nThe studio is at Calle del Prado 24, 2nd floor, Madrid."


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def nearest(query: str, documents: list[str]) -> str:
    return max(documents, key=lambda document: cosine(embed(query), embed(document)))


def test_vectors_are_deterministic_unit_vectors() -> None:
    vector = embed(HOURS)
    assert vector == embed(HOURS)
    assert len(vector) == DEFAULT_DIMENSIONS and len(embed(HOURS, 64)) == 64
    assert math.isclose(math.fsum(x * x for x in vector), 1.0)
    assert math.isclose(math.fsum(x * x for x in embed("")), 1.0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("when are you open?", HOURS),
        ("are you open on saturday", HOURS),
        ("how much is a consultation?", RATES),
        ("where is the studio?", ADDRESS),
    ],
)
def test_a_question_lands_nearest_to_its_answer(query: str, expected: str) -> None:
    assert nearest(query, [HOURS, RATES, ADDRESS]) == expected


def test_unrelated_texts_score_about_half_and_related_ones_well_above() -> None:
    for greeting in ("hi!", "hello, how are you?", "thanks"):
        for document in (HOURS, RATES, ADDRESS):
            assert 0.4 < cosine(embed(greeting), embed(document)) < 0.6
    assert cosine(embed("when are you open?"), embed(HOURS)) > 0.75


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[genai.Client]:
    gemini = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=simulator.gemini_base_url))
    yield gemini
    await gemini.aio.aclose()


async def test_the_sdk_gets_vectors_and_the_call_is_recorded(client: genai.Client, call_api: Callable) -> None:
    response = await client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=[HOURS, "when are you open?"],
        config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=96),
    )
    assert response.embeddings is not None
    assert [embedding.values for embedding in response.embeddings] == [
        embed(HOURS, 96),
        embed("when are you open?", 96),
    ]
    [request] = await call_api("GET", "api/gemini/requests")
    assert request["method"] == "batchEmbedContents" and request["status"] == 200
    assert [content["text"] for content in request["contents"]] == [HOURS, "when are you open?"]


async def test_injected_failures_apply_to_embeddings(client: genai.Client, call_api: Callable) -> None:
    await call_api("POST", "api/gemini/behaviour", {"fail_next": 1, "status": 429})
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.embed_content(model="gemini-embedding-001", contents=["hi"])
    assert caught.value.code == 429
    response = await client.aio.models.embed_content(model="gemini-embedding-001", contents=["hi"])
    assert response.embeddings is not None and len(response.embeddings[0].values or []) == DEFAULT_DIMENSIONS


async def test_single_embed_content_and_bad_requests(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    url = simulator.gemini_base_url.rstrip("/") + "/v1beta/models/gemini-embedding-001"
    headers = {"x-goog-api-key": "test"}
    single = {"content": {"parts": [{"text": HOURS}]}, "outputDimensionality": 32}
    async with http.post(f"{url}:embedContent", json=single, headers=headers) as response:
        assert response.status == 200
        assert (await response.json()) == {"embedding": {"values": embed(HOURS, 32)}}
    for bad in ({"requests": []}, {"requests": [{"content": "text"}]}, {"requests": [{"content": {}}] * 101}):
        async with http.post(f"{url}:batchEmbedContents", json=bad, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["status"] == "INVALID_ARGUMENT"
    async with http.post(f"{url}:batchEmbedContents", json={"requests": []}) as response:
        assert response.status == 401
