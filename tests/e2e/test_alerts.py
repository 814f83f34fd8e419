"""Alerts reach the operator (their WhatsApp and a webhook) once per incident, however much the connection flaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from ..local_server import serve
from .conftest import REPLY_TIMEOUT_S, StartWatched

OPERATOR = "15557654321"
FLAPS = 5


class Webhook:
    """A webhook receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        async with self._changed:
            self.received.append(payload)
            self._changed.notify_all()
        return web.json_response({"ok": True})

    async def wait_for(self, count: int, timeout_s: float = REPLY_TIMEOUT_S) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    receiver = Webhook()
    app = web.Application()
    app.router.add_post("/hooks/bot", receiver.handle)
    async with serve(app) as base_url:
        receiver.url = f"{base_url}hooks/bot?token=s3cret"
        yield receiver


async def test_a_flapping_connection_alerts_once_and_says_back_once(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings, webhook: Webhook
) -> None:
    settings = fault_settings.model_copy(
        update={"operator_number": f"+{OPERATOR}", "alert_webhook_url": webhook.url, "alert_settle_s": 1.0}
    )
    app, log = await start_linked(settings)

    async with sim.phone(OPERATOR) as operator:
        for _ in range(FLAPS):  # another WhatsApp Web keeps grabbing the account and letting it go
            mark = log.mark()
            await sim.set_state("CONFLICT")
            await log.wait_for(ConnectionState.CONFLICT, after=mark)
            await sim.set_state("CONNECTED")
            await log.wait_for(ConnectionState.CONNECTED, after=mark)
        received = await webhook.wait_for(2)
        messages = await operator.wait_for_replies(2, REPLY_TIMEOUT_S)

    assert [(alert["kind"], alert["key"], alert["account"]) for alert in received] == [
        ("problem", "whatsapp", "e2e"),
        ("recovered", "whatsapp", "e2e"),
    ]
    assert "CONFLICT" in received[0]["text"]
    assert f"flapped {FLAPS - 1} times" in received[1]["text"]
    assert [message.text for message in messages] == [f"[e2e] {received[0]['text']}", f"[e2e] {received[1]['text']}"]
    assert app.alerts is not None and not app.alerts.is_open("whatsapp")
