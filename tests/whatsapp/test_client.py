"""WhatsAppClient.send_text's rules, with a scripted page: hold while not connected, never send twice.

The end-to-end tests show these against the real page; here each branch is forced, including the one that is
hard to time for real (the page dies after the send went out but before its answer came back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import NotReady, WhatsAppError
from bot.settings import Settings
from bot.whatsapp import ConnectionState, IncomingMessage, WhatsAppClient
from bot.whatsapp.client import FIND_MESSAGE_JS, SEND_TEXT_JS
from bot.whatsapp.page import PageGone

CHAT = "15551234567@c.us"


class ScriptedPage:
    """Stands in for PageBridge.call: answers each script from a queue of outcomes, and records the calls."""

    def __init__(self, outcomes: dict[str, list[Callable[[Any], Any]]]) -> None:
        self._outcomes = outcomes
        self.calls: list[tuple[str, Any]] = []
        self.called = asyncio.Event()

    async def call(self, script: str, argument: Any = None, *, timeout_s: float, action: str) -> Any:
        name = {SEND_TEXT_JS: "send", FIND_MESSAGE_JS: "find"}.get(script, "other")
        self.calls.append((name, argument))
        self.called.set()
        return self._outcomes[name].pop(0)(argument)


def sent(argument: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"true_{argument['chatId']}_{argument['messageId']}", "ack": 1}


def gone(_: Any) -> Any:
    raise PageGone("cannot send a message: Target page, context or browser has been closed")


async def ignore(_: IncomingMessage) -> None:
    return None


@pytest.fixture
def client(tmp_path: Path) -> WhatsAppClient:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, sessions_dir=tmp_path, whatsapp_probe_interval_s=0.05, whatsapp_probe_timeout_s=0.05
    )
    return WhatsAppClient(settings, on_message=ignore)


def connect(client: WhatsAppClient, page: ScriptedPage) -> None:
    client._supervisor.bridge = page  # type: ignore[assignment]
    client.connection.set(ConnectionState.CONNECTED, "test")


async def test_a_send_lost_with_the_page_is_looked_up_not_sent_again(client: WhatsAppClient) -> None:
    dying = ScriptedPage({"send": [gone]})
    connect(client, dying)
    sending = asyncio.create_task(client.send_text(CHAT, "hello"))
    await asyncio.wait_for(dying.called.wait(), 5)
    # The page died mid-send, after the message went out: the supervisor relaunches; the new page has it.
    client.connection.set(ConnectionState.BROWSER_LOST, "test")
    relaunched = ScriptedPage({"find": [lambda _: True]})
    connect(client, relaunched)
    wa_id = await asyncio.wait_for(sending, 5)
    [(first, send_args)] = dying.calls
    [(second, key)] = relaunched.calls
    assert (first, second) == ("send", "find")
    assert key == wa_id == f"true_{CHAT}_{send_args['messageId']}"  # the id chosen before the first try


async def test_a_send_lost_before_it_went_out_is_sent_again_with_the_same_id(client: WhatsAppClient) -> None:
    page = ScriptedPage({"send": [gone, sent], "find": [lambda _: False]})
    connect(client, page)
    wa_id = await asyncio.wait_for(client.send_text(CHAT, "hello", message_id="3EB0AAAABBBBCCCCDDDD"), 5)
    assert [name for name, _ in page.calls] == ["send", "find", "send"]
    assert {args["messageId"] for name, args in page.calls if name == "send"} == {"3EB0AAAABBBBCCCCDDDD"}
    assert wa_id == f"true_{CHAT}_3EB0AAAABBBBCCCCDDDD"


async def test_a_send_is_held_while_not_connected(client: WhatsAppClient) -> None:
    page = ScriptedPage({"send": [sent]})
    client._supervisor.bridge = page  # type: ignore[assignment]
    client.connection.set(ConnectionState.SYNCING, "test")
    sending = asyncio.create_task(client.send_text(CHAT, "hello"))
    with pytest.raises(TimeoutError):  # held: it neither finishes nor touches the page while syncing
        await asyncio.wait_for(asyncio.shield(sending), 0.2)
    assert page.calls == []
    client.connection.set(ConnectionState.CONNECTED, "test")
    assert (await asyncio.wait_for(sending, 5)).startswith(f"true_{CHAT}_")


async def test_a_refusal_while_the_connection_moves_is_held_and_a_steady_one_raises(client: WhatsAppClient) -> None:
    moving = {"refused": "cannot send: the stream is SYNCING, not MAIN", "steady": False}
    page = ScriptedPage({"send": [lambda _: moving, sent]})
    connect(client, page)
    assert (await asyncio.wait_for(client.send_text(CHAT, "hello"), 5)).startswith(f"true_{CHAT}_")

    page = ScriptedPage({"send": [lambda _: {"refused": "invalid chat", "steady": True}]})
    connect(client, page)
    with pytest.raises(WhatsAppError, match="invalid chat"):
        await asyncio.wait_for(client.send_text("nobody", "hello"), 5)


async def test_courtesy_actions_are_never_held(client: WhatsAppClient) -> None:
    client.connection.set(ConnectionState.OFFLINE, "test")
    with pytest.raises(NotReady):
        await client.mark_read(CHAT, answered="false_x_1")
    with pytest.raises(NotReady):
        await client.set_typing(CHAT)
