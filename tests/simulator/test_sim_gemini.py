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
HI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


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


async def test_failures_carry_retry_after_when_asked(
    client: genai.Client, http: aiohttp.ClientSession, simulator: Simulator, call_api
) -> None:
    echo = await call_api("POST", "api/gemini/behaviour", {"fail_next": 2, "status": 429, "retry_after_s": 2})
    assert echo == {"fail_next": 2, "status": 429, "delay_ms": 0.0, "retry_after_s": 2.0}
    url = simulator.gemini_base_url + f"v1beta/models/{MODEL}:generateContent"
    async with http.post(url, json=HI, headers={"x-goog-api-key": "test"}) as response:
        assert (response.status, response.headers.get("Retry-After")) == (429, "2")
    # What the bot reads: the SDK's error keeps the HTTP response, headers included.
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.response.headers["Retry-After"] == "2"
    async with http.post(url, json=HI, headers={"x-goog-api-key": "test"}) as response:
        assert response.status == 200 and "Retry-After" not in response.headers

    # A fraction of a second (not standard HTTP, but it keeps tests fast); without the field, no header.
    await call_api("POST", "api/gemini/behaviour", {"fail_next": 1, "status": 503, "retry_after_s": 0.25})
    async with http.post(url, json=HI, headers={"x-goog-api-key": "test"}) as response:
        assert (response.status, response.headers.get("Retry-After")) == (503, "0.250")
    await call_api("POST", "api/gemini/behaviour", {"fail_next": 1, "status": 503})
    async with http.post(url, json=HI, headers={"x-goog-api-key": "test"}) as response:
        assert response.status == 503 and "Retry-After" not in response.headers


async def test_every_call_is_counted_with_its_outcome(
    http: aiohttp.ClientSession, simulator: Simulator, call_api
) -> None:
    """Failed and abandoned calls are recorded too, so tests can count what a reply cost."""
    url = simulator.gemini_base_url + f"v1beta/models/{MODEL}:generateContent"
    await call_api("POST", "api/gemini/behaviour", {"fail_next": 1, "status": 500, "hang_next": 1})
    with pytest.raises(TimeoutError):
        async with http.post(
            url, json=HI, headers={"x-goog-api-key": "test"}, timeout=aiohttp.ClientTimeout(total=0.5)
        ):
            pass  # hung: never answers
    for expected in (500, 200):
        async with http.post(url, json=HI, headers={"x-goog-api-key": "test"}) as response:
            assert response.status == expected
    requests = await call_api("GET", "api/gemini/requests")
    assert [request["status"] for request in requests] == [None, 500, 200]
    assert requests[0]["time"] <= requests[1]["time"] <= requests[2]["time"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"retry_after_s": "soon"}, "retry_after_s"),
        ({"retry_after_s": -1}, "retry_after_s"),
        ({"hang_next": -1}, "hang_next"),
        ({"hang_next": True}, "hang_next"),
    ],
)
async def test_new_behaviour_fields_are_checked(
    http: aiohttp.ClientSession, simulator: Simulator, body: dict[str, object], mentions: str
) -> None:
    async with http.post(simulator.base_url + "api/gemini/behaviour", json=body) as response:
        assert response.status == 400
        assert mentions in (await response.json())["error"]


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
