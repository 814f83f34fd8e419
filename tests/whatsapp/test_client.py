"""WhatsAppClient.send_text's rules, with a scripted page: hold while not connected, never send twice; and
download_media, against the simulator's page in real Chromium and with a scripted page for its failures.

The end-to-end tests show these against the real page; here each branch is forced, including the one that is
hard to time for real (the page dies after the send went out but before its answer came back).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import NotReady, WhatsAppError
from bot.settings import DEFAULT_WA_JS, Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState, IncomingMessage, WhatsAppClient
from bot.whatsapp.client import FIND_MESSAGE_JS, NOT_LOADED, SEND_TEXT_JS
from bot.whatsapp.events import DownloadedMedia
from bot.whatsapp.page import PageBridge, PageGone, PageRefused

from .test_bridge import PHOTO, BridgePage, bridge_page

__all__ = ["bridge_page"]  # a fixture, used by name

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


def on_event(kind: str, payload: Any) -> None:
    return None


def connect_to(client: WhatsAppClient, page: BridgePage, simulator: Simulator) -> None:
    """The client uses the linked simulator page as its own, as the supervisor would hand it over."""
    bridge = PageBridge(page.page, url=simulator.base_url, wa_js_path=DEFAULT_WA_JS, on_event=on_event)
    connect(client, bridge)  # type: ignore[arg-type]


async def test_a_sent_image_is_downloaded_with_its_exact_bytes(
    client: WhatsAppClient, bridge_page: BridgePage, simulator: Simulator, sim: SimulatorClient
) -> None:
    connect_to(client, bridge_page, simulator)
    image = await sim.send_media("15551234567", "image", caption="the part", data=PHOTO, mimetype="image/jpeg")
    default = await sim.send_media("15551234567", "image")
    await bridge_page.wait_for_messages(2)
    got = await asyncio.wait_for(client.download_media(image, max_bytes=len(PHOTO)), 10)
    assert got == DownloadedMedia(mime_type="image/jpeg", data=PHOTO) and got.size == len(PHOTO)
    png = await asyncio.wait_for(client.download_media(default, max_bytes=5 * 1024 * 1024), 10)
    assert png is not None and png.mime_type == "image/png" and png.data.startswith(b"\x89PNG")


async def test_no_file_for_a_text_an_unknown_message_or_an_image_over_the_limit(
    client: WhatsAppClient, bridge_page: BridgePage, simulator: Simulator, sim: SimulatorClient
) -> None:
    connect_to(client, bridge_page, simulator)
    image = await sim.send_media("15551234567", "image", data=PHOTO)
    text = await sim.send("15551234567", "just words")
    await bridge_page.wait_for_messages(2)
    assert await asyncio.wait_for(client.download_media(text, max_bytes=1_000_000), 10) is None
    assert await asyncio.wait_for(client.download_media(f"false_{CHAT}_3EB0000000000000", max_bytes=10**6), 10) is None
    assert await asyncio.wait_for(client.download_media(image, max_bytes=len(PHOTO) - 1), 10) is None
    with pytest.raises(WhatsAppError, match="cannot download media"):
        await asyncio.wait_for(client.download_media("nonsense", max_bytes=1_000_000), 10)


def downloaded(argument: dict[str, Any]) -> dict[str, Any]:
    return {"mimetype": "image/png", "data": base64.b64encode(b"png bytes").decode(), "size": 9}


async def test_a_download_lost_with_the_page_is_asked_again_and_a_loading_page_is_waited_for(
    client: WhatsAppClient,
) -> None:
    not_loaded = {"refused": NOT_LOADED, "reason": "the bridge is not in the page (it is loading)"}
    page = ScriptedPage({"other": [gone, lambda _: not_loaded, downloaded]})
    connect(client, page)
    got = await asyncio.wait_for(client.download_media(f"false_{CHAT}_A1", max_bytes=100), 10)
    assert got == DownloadedMedia(mime_type="image/png", data=b"png bytes")
    assert [argument for _, argument in page.calls] == [{"id": f"false_{CHAT}_A1", "maxBytes": 100}] * 3


async def test_a_download_waits_for_the_connection_and_a_malformed_answer_raises(client: WhatsAppClient) -> None:
    page = ScriptedPage({"other": [downloaded, lambda _: {"mimetype": "image/png", "data": "%%%"}]})
    client._supervisor.bridge = page  # type: ignore[assignment]
    client.connection.set(ConnectionState.SYNCING, "test")
    downloading = asyncio.create_task(client.download_media(f"false_{CHAT}_A1", max_bytes=100))
    with pytest.raises(TimeoutError):  # held: the page is not asked while syncing
        await asyncio.wait_for(asyncio.shield(downloading), 0.2)
    assert page.calls == []
    client.connection.set(ConnectionState.CONNECTED, "test")
    assert await asyncio.wait_for(downloading, 5) is not None
    with pytest.raises(PageRefused, match="malformed"):
        await asyncio.wait_for(client.download_media(f"false_{CHAT}_A1", max_bytes=100), 5)
