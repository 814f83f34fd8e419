"""The HTTP API: every route behind the token, sends only to contacts who wrote (stored so their echo is the bot's),
contacts and personas created and updated, and bad input always a 4xx JSON error, never a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.errors import NotReady
from bot.ops.api import MAX_BODY_BYTES, PREFIX, ApiDeps, api_routes, openapi_document
from bot.storage import Database, Direction, MessageStatus, Persona
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus

from ..storage_faults import FlakyProxy, Outage

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANA = "15551234567"
ANA_ID = f"{ANA}@c.us"


@dataclass
class FakeSend:
    """Records sends; can refuse (NotReady) or never answer, as WhatsApp does when the page is gone."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    refuse: bool = False
    hang: bool = False

    async def __call__(self, chat_id: str, text: str, *, message_id: str) -> str:
        if self.refuse:
            raise NotReady("WhatsApp is not connected (OFFLINE)")
        if self.hang:
            await asyncio.Event().wait()
        self.sent.append((chat_id, text, message_id))
        return f"true_{chat_id}_{message_id}"


@dataclass
class Api:
    client: TestClient[Any, Any]
    send: FakeSend
    db: Database
    connected: list[bool]

    async def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> tuple[int, Any]:
        headers = {**(AUTH if auth else {}), **kwargs.pop("headers", {})}
        async with self.client.request(method, PREFIX + path, headers=headers, **kwargs) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()


@asynccontextmanager
async def serve_api(db: Database, **options: Any) -> AsyncIterator[Api]:
    """The API's routes on a plain aiohttp app on 127.0.0.1, with a fake send and a connection switch."""
    send = FakeSend()
    connected = [True]
    deps = ApiDeps(db=db, send=send, token=TOKEN, connected=lambda: connected[0], **options)
    app = web.Application()
    app.add_routes(api_routes(deps))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Api(client, send, db, connected)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    async with serve_api(db) as started:
        yield started


async def contact_wrote(db: Database, number: str = ANA, text: str = "hello") -> None:
    chat_id = f"{number}@c.us"
    await db.messages.add_inbound(
        wa_id=f"false_{chat_id}_{text}", contact_id=chat_id, text=text, wa_time=datetime.now(UTC)
    )
    await db.contacts.seen(chat_id, phone=number, push_name="Ana")


def route_calls() -> list[tuple[str, str]]:
    calls = []
    for route in api_routes(ApiDeps(db=None, send=FakeSend(), token=TOKEN)):  # type: ignore[arg-type]
        calls.append((route.method, route.path.replace("{number}", ANA).replace("{name}", "kim")))
    return calls


@pytest.mark.parametrize(("method", "path"), route_calls())
async def test_every_route_needs_the_token(api: Api, method: str, path: str) -> None:
    async with api.client.request(method, path, json={}) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    async with api.client.request(method, path, json={}, headers={"Authorization": "Bearer wrong"}) as response:
        assert response.status == 401
    assert api.send.sent == []


async def test_the_openapi_document_describes_every_route(api: Api) -> None:
    status, document = await api.call("GET", "/openapi.json")
    assert status == 200
    assert document == json.loads(json.dumps(openapi_document()))
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    served = {(route.method.lower(), route.path) for route in api_routes(ApiDeps(None, FakeSend(), TOKEN))}  # type: ignore[arg-type]
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and operation["security"] == [{"bearer": []}] and "401" in operation["responses"]
    }
    assert documented == served


async def test_a_message_to_a_contact_who_wrote_is_sent_and_stored_as_the_bots(api: Api) -> None:
    await contact_wrote(api.db)
    status, body = await api.call("POST", "/messages", json={"to": f"+{ANA}", "text": "Your order is ready"})
    assert status == 201, body
    [(chat_id, text, message_id)] = api.send.sent
    assert (chat_id, text) == (ANA_ID, "Your order is ready")
    assert body == {"id": body["id"], "to": ANA_ID, "wa_id": f"true_{ANA_ID}_{message_id}"}
    stored = await api.db.messages.get(body["id"])
    assert stored is not None
    assert (stored.direction, stored.status, stored.wa_key, stored.wa_id) == (
        Direction.OUTBOUND,
        MessageStatus.SENT,
        message_id,
        body["wa_id"],
    )
    # Its echo is the bot's own message, not the operator taking the chat over.
    assert await api.db.messages.sent_by_bot(body["wa_id"])
    status, conversation = await api.call("GET", f"/contacts/{ANA}/messages")
    assert [(m["direction"], m["text"]) for m in conversation["messages"]] == [
        ("inbound", "hello"),
        ("outbound", "Your order is ready"),
    ]


async def test_a_number_that_never_wrote_is_refused_unless_allowed(db: Database) -> None:
    async with serve_api(db) as api:
        status, body = await api.call("POST", "/messages", json={"to": "+15550000000", "text": "hi"})
        assert status == 403 and "never wrote" in body["error"] and "API_SEND_ANY_NUMBER" in body["error"]
        # Described by the operator, but never wrote: still refused.
        await api.call("PUT", "/contacts/15550000000", json={"name": "Bo"})
        status, _ = await api.call("POST", "/messages", json={"to": "15550000000", "text": "hi"})
        assert status == 403
        assert api.send.sent == []
    async with serve_api(db, send_any_number=True) as api:
        status, body = await api.call("POST", "/messages", json={"to": "+15550000001", "text": "hi"})
        assert status == 201 and body["to"] == "15550000001@c.us"
        assert [sent[0] for sent in api.send.sent] == ["15550000001@c.us"]


async def test_a_blocked_contact_is_not_written_to(api: Api) -> None:
    await contact_wrote(api.db)
    await api.db.contacts.set_flags(ANA_ID, blocked=True)
    status, body = await api.call("POST", "/messages", json={"to": ANA, "text": "hi"})
    assert status == 403 and "blocked" in body["error"]
    assert api.send.sent == []


async def test_whatsapp_down_is_a_503_and_the_message_is_recorded_failed(api: Api) -> None:
    await contact_wrote(api.db)
    api.connected[0] = False
    status, body = await api.call("POST", "/messages", json={"to": ANA, "text": "hi"})
    assert status == 503 and "not connected" in body["error"]
    api.connected[0] = True
    api.send.refuse = True
    status, body = await api.call("POST", "/messages", json={"to": ANA, "text": "hi"})
    assert status == 503 and "did not take" in body["error"]
    [outbound] = [m for m in await api.db.messages.for_contact(ANA_ID) if m.direction is Direction.OUTBOUND]
    assert outbound.status is MessageStatus.FAILED and outbound.error


async def test_a_send_not_confirmed_in_time_is_a_504(db: Database) -> None:
    await contact_wrote(db)
    async with serve_api(db, send_timeout_s=0.2) as api:
        api.send.hang = True
        status, body = await api.call("POST", "/messages", json={"to": ANA, "text": "hi"})
        assert status == 504 and "may still go out" in body["error"]
        [outbound] = [m for m in await db.messages.for_contact(ANA_ID) if m.direction is Direction.OUTBOUND]
        assert outbound.status is MessageStatus.FAILED and outbound.wa_key


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[]", 422, "body"),
        (b'{"to": 15551234567, "text": "hi"}', 422, "to"),
        (b'{"to": "+1555", "text": "hi"}', 422, "to"),
        (b'{"to": "+1 555 123 4567", "text": "hi"}', 422, "to"),
        (b'{"to": "15551234567", "text": "   "}', 422, "text"),
        (b'{"to": "15551234567", "text": "hi", "cc": "x"}', 422, "cc"),
        (b'{"to": "15551234567"}', 422, "text"),
        (b'{"to": "15551234567", "text": "\\ud800"}', 400, None),
    ],
)
async def test_bad_bodies_are_a_clear_4xx(api: Api, body: bytes, status: int, field: str | None) -> None:
    await contact_wrote(api.db)
    got, answer = await api.call("POST", "/messages", data=body, headers={"Content-Type": "application/json"})
    assert got == status, answer
    assert answer["error"]
    if field is not None:
        assert field in [detail["field"] for detail in answer["details"]], answer
    assert api.send.sent == []


async def test_oversize_and_non_json_bodies_are_refused(api: Api) -> None:
    big = json.dumps({"to": ANA, "text": "x" * (MAX_BODY_BYTES + 1)}).encode()
    status, body = await api.call("POST", "/messages", data=big, headers={"Content-Type": "application/json"})
    assert status == 413 and str(MAX_BODY_BYTES) in body["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(5):
            yield b" " * (MAX_BODY_BYTES // 4)

    status, _ = await api.call("POST", "/messages", data=chunks(), headers={"Content-Type": "application/json"})
    assert status == 413
    status, body = await api.call("POST", "/messages", data=b"to=1&text=hi", headers={"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in body["error"]


async def test_contacts_are_created_and_updated(api: Api) -> None:
    status, created = await api.call(
        "PUT", "/contacts/+15557654321", json={"name": "Bo", "relationship": "client", "tags": ["vip"], "priority": 3}
    )
    assert status == 201
    assert created["id"] == "15557654321@c.us" and created["number"] == "15557654321"
    assert (created["name"], created["relationship"], created["tags"], created["priority"]) == (
        "Bo",
        "client",
        ["vip"],
        3,
    )

    status, patched = await api.call("PATCH", "/contacts/15557654321", json={"notes": "pays late", "auto_reply": False})
    assert status == 200
    assert (patched["name"], patched["notes"], patched["auto_reply"], patched["tags"]) == (
        "Bo",
        "pays late",
        False,
        ["vip"],
    )
    status, patched = await api.call("PATCH", "/contacts/15557654321", json={"notes": None})
    assert status == 200 and patched["notes"] is None and patched["name"] == "Bo"

    # PUT sets every operator's field: those left out go back to their defaults.
    status, replaced = await api.call("PUT", "/contacts/15557654321", json={"name": "Bob"})
    assert status == 200
    assert (replaced["name"], replaced["tags"], replaced["priority"], replaced["auto_reply"]) == ("Bob", [], 0, True)

    status, got = await api.call("GET", "/contacts/+15557654321")
    assert status == 200 and got == replaced


async def test_the_bots_own_fields_survive_an_update(api: Api) -> None:
    await contact_wrote(api.db)
    await contact_wrote(api.db, text="again")
    status, contact = await api.call("PUT", f"/contacts/{ANA}", json={"name": "Ana M."})
    assert status == 200
    assert contact["message_count"] == 2 and contact["push_name"] == "Ana" and contact["name"] == "Ana M."


async def test_contact_lookups_and_refusals(api: Api) -> None:
    await contact_wrote(api.db)
    await api.call("PUT", "/contacts/15557654321", json={"tags": ["vip"], "relationship": "friend"})
    status, listed = await api.call("GET", "/contacts")
    assert status == 200 and [c["id"] for c in listed["contacts"]] == [ANA_ID, "15557654321@c.us"]
    _, tagged = await api.call("GET", "/contacts", params={"tag": "vip"})
    assert [c["id"] for c in tagged["contacts"]] == ["15557654321@c.us"]
    _, friends = await api.call("GET", "/contacts", params={"relationship": "friend"})
    assert [c["id"] for c in friends["contacts"]] == ["15557654321@c.us"]
    assert (await api.call("GET", "/contacts", params={"relationship": "boss"}))[0] == 400

    assert (await api.call("GET", "/contacts/15550000000"))[0] == 404
    assert (await api.call("PATCH", "/contacts/15550000000", json={"name": "x"}))[0] == 404
    assert (await api.call("GET", "/contacts/12ab"))[0] == 400
    assert (await api.call("PUT", "/contacts/12ab", json={}))[0] == 400
    status, body = await api.call("PATCH", f"/contacts/{ANA}", json={"blocked": None, "message_count": 0})
    assert status == 422 and {"blocked", "message_count"} <= {d["field"] for d in body["details"]}
    assert (await api.call("PATCH", f"/contacts/{ANA}", json={"priority": "3"}))[0] == 422
    assert (await api.call("PATCH", f"/contacts/{ANA}", json={"persona": "../etc"}))[0] == 422


async def test_a_conversation_is_the_newest_messages_oldest_first(api: Api) -> None:
    for index in range(5):
        await contact_wrote(api.db, text=f"m{index}")
    status, conversation = await api.call("GET", f"/contacts/{ANA}/messages", params={"limit": "3"})
    assert status == 200 and conversation["contact"] == ANA_ID
    assert [m["text"] for m in conversation["messages"]] == ["m2", "m3", "m4"]
    for limit in ("0", "501", "x", "-1", "1.5"):
        status, body = await api.call("GET", f"/contacts/{ANA}/messages", params={"limit": limit})
        assert status == 400 and body["details"][0]["field"] == "limit"
    assert (await api.call("GET", "/contacts/15550000000/messages"))[0] == 404


PERSONA = {"name": "Kim", "role": "support at Kim's Cafe", "instructions": {"max_chars": 300, "topics": ["menu"]}}


async def test_personas_made_by_the_api_survive_the_start_up_sync(api: Api, tmp_path: Path) -> None:
    status, created = await api.call("PUT", "/personas/kim", json=PERSONA)
    assert status == 201
    assert (created["id"], created["name"], created["from_file"]) == ("kim", "Kim", False)
    assert created["instructions"]["max_chars"] == 300
    status, replaced = await api.call("PUT", "/personas/kim", json={**PERSONA, "greeting": "Hi!"})
    assert status == 200 and replaced["greeting"] == "Hi!"

    await api.db.personas.sync_directory(tmp_path)  # an empty personas folder
    status, got = await api.call("GET", "/personas/kim")
    assert status == 200 and got["greeting"] == "Hi!"
    _, listed = await api.call("GET", "/personas")
    assert [p["id"] for p in listed["personas"]] == ["kim"]


async def test_persona_refusals(api: Api, tmp_path: Path) -> None:
    await api.db.personas.save(Persona(id="shop", name="Shop", role="a shop", source=str(tmp_path / "shop.toml")))
    status, body = await api.call("PUT", "/personas/shop", json=PERSONA)
    assert status == 409 and "file" in body["error"]
    assert (await api.call("GET", "/personas/nobody"))[0] == 404
    assert (await api.call("GET", "/personas/bad.name"))[0] == 400
    status, body = await api.call("PUT", "/personas/kim", json={**PERSONA, "instructions": {"max_chars": 5}})
    assert status == 422 and body["details"][0]["field"] == "instructions.max_chars"
    status, body = await api.call("PUT", "/personas/kim", json={**PERSONA, "source": "/etc/passwd"})
    assert status == 422 and body["details"][0]["field"] == "source"
    assert (await api.call("PUT", "/personas/kim", json={"name": "Kim"}))[0] == 422


async def test_scheduled_messages_are_listed(api: Api) -> None:
    now = datetime.now(UTC)
    later = ScheduledMessage(to=ANA_ID, text="later", at=now + timedelta(hours=2), message_id="3EB0AA")
    sooner = ScheduledMessage(to=ANA_ID, text="sooner", at=now + timedelta(hours=1), message_id="3EB0BB")
    done = ScheduledMessage(
        to=ANA_ID, text="done", at=now - timedelta(hours=1), message_id="3EB0CC", status=ScheduledStatus.SENT
    )
    for item in (later, sooner, done):
        await api.db.scheduled.add(item)
    status, listed = await api.call("GET", "/scheduled")
    assert status == 200
    assert [(s["text"], s["status"], s["to"]) for s in listed["scheduled"]] == [
        ("sooner", "pending", ANA_ID),
        ("later", "pending", ANA_ID),
    ]
    _, everything = await api.call("GET", "/scheduled", params={"include_done": "true"})
    assert [s["text"] for s in everything["scheduled"]] == ["done", "sooner", "later"]
    assert (await api.call("GET", "/scheduled", params={"include_done": "yes"}))[0] == 400


async def test_a_database_outage_is_a_503(db: Database) -> None:
    outage = Outage()
    flaky = Database(FlakyProxy(db._client, outage), db._db.name, in_memory=True)
    async with serve_api(flaky) as api:
        outage.down = True
        status, body = await api.call("GET", "/contacts")
        assert status == 503 and "database" in body["error"]
        status, _ = await api.call("POST", "/messages", json={"to": ANA, "text": "hi"})
        assert status == 503
        assert api.send.sent == []
