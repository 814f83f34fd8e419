"""The fake Gemini endpoint, driven by the real google-genai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from bot.simulator import Simulator

MODEL = "gemini-2.5-flash"


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[genai.Client]:
    """The real SDK pointed at the fake endpoint (kept referenced: a dropped Client closes its session)."""
    gemini = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=simulator.gemini_base_url))
    yield gemini
    await gemini.aio.aclose()


async def test_reply_quotes_the_user_and_the_request_is_recorded(client: genai.Client, call_api) -> None:
    response = await client.aio.models.generate_content(
        model=MODEL,
        contents=[
            types.Content(role="user", parts=[types.Part(text="hello")]),
            types.Content(role="model", parts=[types.Part(text="hi, how can I help?")]),
            types.Content(role="user", parts=[types.Part(text="Do you open on Sunday?")]),
        ],
        config=types.GenerateContentConfig(system_instruction="You are Ana's friendly assistant.", temperature=0.2),
    )
    assert "Do you open on Sunday?" in response.text
    assert "offline demo model" in response.text
    assert response.usage_metadata.total_token_count > 0

    [request] = await call_api("GET", "api/gemini/requests")
    assert request["model"] == MODEL
    assert request["system_instruction"] == "You are Ana's friendly assistant."
    assert request["contents"] == [
        {"role": "user", "text": "hello"},
        {"role": "model", "text": "hi, how can I help?"},
        {"role": "user", "text": "Do you open on Sunday?"},
    ]
    assert abs(request["time"] - time.time()) < 60


async def test_injected_failures_raise_then_recover(client: genai.Client, call_api) -> None:
    await call_api("POST", "api/gemini/behaviour", {"fail_next": 2, "status": 503})
    for _ in range(2):
        with pytest.raises(errors.ServerError) as caught:
            await client.aio.models.generate_content(model=MODEL, contents="hi")
        assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"
    response = await client.aio.models.generate_content(model=MODEL, contents="still there?")
    assert "still there?" in response.text

    await call_api("POST", "api/gemini/behaviour", {"fail_next": 1, "status": 429})
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 429
    assert len(await call_api("GET", "api/gemini/requests")) == 4


async def test_delay_is_added_to_every_call(client: genai.Client, call_api) -> None:
    await call_api("POST", "api/gemini/behaviour", {"delay_ms": 150})
    started = time.monotonic()
    await client.aio.models.generate_content(model=MODEL, contents="slow")
    assert time.monotonic() - started >= 0.15


async def test_missing_api_key_is_401_in_google_shape(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    url = simulator.gemini_base_url + f"v1beta/models/{MODEL}:generateContent"
    async with http.post(url, json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) as response:
        assert response.status == 401
        error = (await response.json())["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]


async def test_json_mode_returns_json_matching_the_schema(client: genai.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"reply": {"type": "string"}, "handoff": {"type": "boolean"}},
        "required": ["reply", "handoff"],
    }
    response = await client.aio.models.generate_content(
        model=MODEL,
        contents="what time is it?",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema),
    )
    data = json.loads(response.text)
    assert data["handoff"] is False and "what time is it?" in data["reply"]


async def test_streaming_and_token_counting(client: genai.Client) -> None:
    chunks = [chunk.text async for chunk in await client.aio.models.generate_content_stream(model=MODEL, contents="yo")]
    assert '"yo"' in "".join(chunks)
    counted = await client.aio.models.count_tokens(model=MODEL, contents="four words right here")
    assert counted.total_tokens > 0
