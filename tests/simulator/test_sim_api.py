"""The JSON control API over HTTP: validation, conflicts, held messages, state changes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.simulator import Simulator


async def _post(http: aiohttp.ClientSession, sim: Simulator, path: str, body: Any = None, raw: str | None = None):
    kwargs = {"data": raw, "headers": {"Content-Type": "application/json"}} if raw is not None else {"json": body}
    async with http.post(sim.base_url + path, **kwargs) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"from": "15551234567"}, "text"),
        ({"from": "15551234567", "text": ""}, "text"),
        ({"text": "hi"}, "from"),
        ({"from": "555-CALL-NOW", "text": "hi"}, "digits"),
        ({"from": "15551234567", "text": "hi", "id": "not an id!"}, "id"),
        ({"from": "15551234567", "text": "hi", "group": True, "broadcast": True}, "broadcast"),
        ({"from_me": True, "text": "hi"}, "to"),
        ({"from": "15551234567", "text": "hi", "age_s": -5}, "age_s"),
        ({"from": "15551234567", "text": "hi", "age_s": "yesterday"}, "age_s"),
        (["not", "an", "object"], "object"),
    ],
)
async def test_bad_messages_get_400_with_a_clear_error(
    http: aiohttp.ClientSession, simulator: Simulator, body: Any, mentions: str
) -> None:
    status, data = await _post(http, simulator, "api/messages", body)
    assert status == 400
    assert mentions in data["error"]


async def test_broken_json_is_400(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    status, data = await _post(http, simulator, "api/messages", raw="{not json")
    assert status == 400 and "JSON" in data["error"]


async def test_link_without_a_qr_page_is_409(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    status, data = await _post(http, simulator, "api/link")
    assert status == 409 and "QR" in data["error"]


async def test_state_rejects_unknown_states(http: aiohttp.ClientSession, simulator: Simulator, call_api) -> None:
    status, data = await _post(http, simulator, "api/state", {"state": "ASLEEP"})
    assert status == 400 and "CONNECTED" in data["error"]
    assert "UNPAIRED" in data["error"] and "SMB_TOS_BLOCK" in data["error"]
    status, data = await _post(http, simulator, "api/state", {})
    assert status == 400
    states = ("OFFLINE", "OPENING", "TIMEOUT", "PAIRING", "SYNCING", "CONFLICT", "TOS_BLOCK", "SMB_TOS_BLOCK")
    for state in (*states, "PROXYBLOCK", "DEPRECATED_VERSION", "CONNECTED"):
        assert await call_api("POST", "api/state", {"state": state}) == {"state": state}
        assert (await call_api("GET", "api/status"))["state"] == state
    # UNPAIRED is not a state the account stays in: the server forgot the device, as after a logout.
    await call_api("POST", "api/state", {"state": "OFFLINE"})
    assert await call_api("POST", "api/state", {"state": "unpaired"}) == {"state": "CONNECTED"}
    assert (await call_api("GET", "api/status"))["linked"] is False


async def test_messages_without_a_page_are_held(call_api) -> None:
    first = await call_api("POST", "api/messages", {"from": "15551234567", "text": "hi", "name": "Ana"})
    assert first["id"].startswith("false_15551234567@c.us_")
    await call_api("POST", "api/messages", {"from": "+15551234567", "text": "again"})
    status = await call_api("GET", "api/status")
    assert status == {
        "linked": False,
        "state": "CONNECTED",
        "pages": [],
        "qr_pages": 0,
        "ready_pages": 0,
        "pending": 2,
    }
    assert await call_api("GET", "api/chats") == [
        {"id": "15551234567@c.us", "name": "Ana", "unread": 2, "composing_events": 0}
    ]
    assert await call_api("GET", "api/sent") == []


async def test_caller_chosen_ids_allow_duplicates(call_api) -> None:
    body = {"from": "15551234567", "text": "hi", "id": "DUP0000000000000001"}
    first = await call_api("POST", "api/messages", body)
    second = await call_api("POST", "api/messages", body)
    assert first["id"] == second["id"] == "false_15551234567@c.us_DUP0000000000000001"
    assert (await call_api("GET", "api/status"))["pending"] == 2


async def test_group_status_and_own_messages_get_wa_ids(call_api) -> None:
    group = await call_api("POST", "api/messages", {"from": "15551234567", "text": "g", "group": "123-456"})
    assert group["id"].startswith("false_123-456@g.us_") and group["id"].endswith("_15551234567@c.us")
    status = await call_api("POST", "api/messages", {"from": "15551234567", "text": "s", "broadcast": True})
    assert status["id"].startswith("false_status@broadcast_") and status["id"].endswith("_15551234567@c.us")
    own = await call_api("POST", "api/messages", {"from_me": True, "to": "15551234567", "text": "me"})
    assert own["id"].startswith("true_15551234567@c.us_")
    chats = {chat["id"]: chat for chat in await call_api("GET", "api/chats")}
    assert set(chats) == {"123-456@g.us", "15551234567@c.us"}  # status posts are not a chat
    assert chats["15551234567@c.us"]["unread"] == 0  # the operator's own message is not unread


async def test_link_by_pairing_code_needs_a_well_formed_known_code(
    http: aiohttp.ClientSession, simulator: Simulator
) -> None:
    status, data = await _post(http, simulator, "api/link", {"code": "ABC"})
    assert status == 400 and "ABCD-EFGH" in data["error"]
    status, data = await _post(http, simulator, "api/link", {"code": "abcd-efgh"})
    assert status == 409 and "pairing code" in data["error"]
    status, data = await _post(http, simulator, "api/link", ["not", "an", "object"])
    assert status == 400


async def test_connection_fault_controls(http: aiohttp.ClientSession, simulator: Simulator, call_api) -> None:
    assert await call_api("POST", "api/page/reload") == {"reloaded": 0}
    for path in ("api/qr/rotate", "api/qr/idle"):
        status, data = await _post(http, simulator, path)
        assert status == 409 and "QR" in data["error"]
    assert await call_api("POST", "api/main-ready", {"mode": "never"}) == {"mode": "never", "delay_ms": 0}
    assert await call_api("POST", "api/main-ready", {"mode": "before-auth", "delay_ms": 250}) == {
        "mode": "before-auth",
        "delay_ms": 250,
    }
    assert await call_api("POST", "api/main-ready", {}) == {"mode": "normal", "delay_ms": 0}
    for bad in ({"mode": "soon"}, {"delay_ms": "1s"}, {"delay_ms": -5}, {"mode": "normal", "when": 1}):
        status, data = await _post(http, simulator, "api/main-ready", bad)
        assert status == 400, bad
    status, data = await _post(http, simulator, "api/main-ready", {"mode": "soon"})
    assert "normal, never, before-auth" in data["error"]


async def test_qr_svg_needs_a_code(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    async with http.get(simulator.base_url + "qr.svg") as response:
        assert response.status == 400
    async with http.get(simulator.base_url + "qr.svg", params={"code": "2@abc,def,ghi,jkl"}) as response:
        assert response.status == 200 and (await response.text()).lstrip().startswith("<svg")


async def test_gemini_behaviour_validation(http: aiohttp.ClientSession, simulator: Simulator, call_api) -> None:
    status, data = await _post(http, simulator, "api/gemini/behaviour", {"fail_next": -1})
    assert status == 400 and "fail_next" in data["error"]
    status, data = await _post(http, simulator, "api/gemini/behaviour", {"status": 200})
    assert status == 400 and "status" in data["error"]
    assert await call_api("POST", "api/gemini/behaviour", {"fail_next": 2, "status": 429}) == {
        "fail_next": 2,
        "status": 429,
        "delay_ms": 0.0,
    }
    assert await call_api("POST", "api/gemini/behaviour", {}) == {"fail_next": 0, "status": 503, "delay_ms": 0.0}


async def test_simulator_lifecycle() -> None:
    sim = Simulator()
    await sim.stop()  # before start: nothing to do
    await sim.start()
    try:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/")
        assert sim.gemini_base_url == sim.base_url + "gemini/"
        assert sim.phone_url == sim.base_url + "phone"
        with pytest.raises(RuntimeError):
            await sim.start()
    finally:
        await sim.stop()
        await sim.stop()
    with pytest.raises(ValueError):
        Simulator(host="0.0.0.0")
    with pytest.raises(ValueError):
        Simulator(sync_ms=-1)
