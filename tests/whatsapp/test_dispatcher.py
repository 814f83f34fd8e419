"""PageEvents: how page reports drive the login flow, with a scripted page standing in for the browser."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from bot.errors import NeedsOperator
from bot.settings import Settings
from bot.whatsapp import ConnectionState, IncomingMessage
from bot.whatsapp.catchup import UNREAD_JS
from bot.whatsapp.connection import Connection
from bot.whatsapp.dispatcher import REFRESH_QR_JS, PageEvents
from bot.whatsapp.events import MessageAck

PAGE_MESSAGE = {
    "id": "false_15551234567@c.us_3EB0B2",
    "chatId": "15551234567@c.us",
    "body": "are you open?",
    "type": "chat",
    "t": 1_790_000_000,
}
IDLE_QR = {"loaded": True, "authenticated": False, "mainReady": False, "mode": "QR", "idle": True}
FRESH_QR = IDLE_QR | {"idle": False, "hasAuthCode": True}


class RecordingPage:
    def __init__(self) -> None:
        self.scripts: list[str] = []

    async def call(self, script: str, argument: Any = None, *, timeout_s: float, action: str) -> Any:
        self.scripts.append(script)
        return [] if script == UNREAD_JS else True


async def ignore(_: IncomingMessage) -> None:
    return None


def events(tmp_path: Path, page: RecordingPage, *, rounds: int) -> tuple[PageEvents, Connection]:
    settings = Settings(_env_file=None, sessions_dir=tmp_path, login_max_qr_rounds=rounds)  # type: ignore[call-arg]
    connection = Connection()
    dispatcher = PageEvents(
        settings,
        connection,
        on_message=ignore,
        presenter=None,
        alerts=None,
        current_bridge=lambda: page,  # type: ignore[arg-type,return-value]
    )
    return dispatcher, connection


async def test_an_idle_qr_is_refreshed_once_per_idle_screen(tmp_path: Path) -> None:
    page = RecordingPage()
    dispatcher, connection = events(tmp_path, page, rounds=5)
    # Reported idle three times (event, watchdog probes) before the new code arrives: one refresh.
    for report in (IDLE_QR, IDLE_QR, IDLE_QR, FRESH_QR, IDLE_QR):
        await dispatcher._handle("status", report)
    assert page.scripts == [REFRESH_QR_JS, REFRESH_QR_JS]
    assert connection.state is ConnectionState.NEEDS_LOGIN


async def test_the_last_allowed_idle_screen_ends_the_wait(tmp_path: Path) -> None:
    page = RecordingPage()
    dispatcher, _ = events(tmp_path, page, rounds=2)
    await dispatcher._handle("status", IDLE_QR)
    await dispatcher._handle("status", FRESH_QR)
    with pytest.raises(NeedsOperator, match="LOGIN_MAX_QR_ROUNDS=2"):
        await asyncio.wait_for(dispatcher._handle("status", IDLE_QR), 5)
    assert page.scripts == [REFRESH_QR_JS]


async def test_a_login_screen_after_being_linked_is_a_logout_even_unheard(tmp_path: Path) -> None:
    page = RecordingPage()
    dispatcher, connection = events(tmp_path, page, rounds=5)
    changes: list[ConnectionState] = []
    connection.subscribe(lambda change: changes.append(change.current))
    await dispatcher._handle("status", {"loaded": True, "authenticated": True, "mainReady": True, "mode": "MAIN"})
    # The page reloaded onto the QR screen: conn.logout fired while nobody listened.
    await dispatcher._handle("status", FRESH_QR)
    await dispatcher._handle("status", FRESH_QR)
    assert changes == [ConnectionState.CONNECTED, ConnectionState.LOGGED_OUT, ConnectionState.NEEDS_LOGIN]


async def test_a_message_never_waits_behind_a_receipt_being_recorded(tmp_path: Path) -> None:
    release, acked = asyncio.Event(), asyncio.Event()
    received: list[str] = []
    arrived = asyncio.Event()

    async def slow_ack(_: MessageAck) -> None:
        await release.wait()  # a slow database write
        acked.set()

    async def on_message(message: IncomingMessage) -> None:
        received.append(message.wa_id)
        arrived.set()

    settings = Settings(_env_file=None, sessions_dir=tmp_path)  # type: ignore[call-arg]
    dispatcher = PageEvents(
        settings, Connection(), on_message=on_message, on_ack=slow_ack, presenter=None, alerts=None,
        current_bridge=lambda: None,
    )  # fmt: skip
    running = asyncio.create_task(dispatcher.run())
    try:
        dispatcher.put("ack", {"ack": 2, "chat": "15551234567@c.us", "ids": ["true_15551234567@c.us_3EB0A1"]})
        dispatcher.put("message", PAGE_MESSAGE)
        await asyncio.wait_for(arrived.wait(), 5)
        assert received == [PAGE_MESSAGE["id"]] and not acked.is_set()
        release.set()
        await asyncio.wait_for(acked.wait(), 5)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
