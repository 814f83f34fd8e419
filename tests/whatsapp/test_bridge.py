"""bridge.js in a linked simulator page: the page-side rules the bot relies on (read marks, send refusals, media
downloads)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import Error as PlaywrightError

from bot.settings import DEFAULT_WA_JS
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.whatsapp.events import PageMessage, to_incoming
from bot.whatsapp.injection import BRIDGE_SOURCE, install_bridge
from bot.whatsapp.page import BINDING_NAME

ANA = "15551234567"
ANA_CHAT = f"{ANA}@c.us"
WAIT_S = 10.0
# Resolves once the page itself shows the idle QR screen (the control API returns before the page got the push).
IDLE_IN_PAGE = """() => new Promise((resolve) => {
  const check = setInterval(() => { if (WPP.conn.isIdle()) { clearInterval(check); resolve(true); } }, 20);
})"""


class BridgePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def record(self, _source: Any, kind: str, payload: Any) -> None:
        async with self._changed:
            self.events.append((kind, payload))
            self._changed.notify_all()

    async def _wait(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(condition)

    async def wait_for_status(self, **wanted: Any) -> None:
        """Until the bridge's latest status report has these values."""

        def matches() -> bool:
            reports = [payload for kind, payload in self.events if kind == "status"]
            return bool(reports) and all(reports[-1].get(key) == value for key, value in wanted.items())

        await self._wait(matches)

    async def wait_for_messages(self, count: int) -> None:
        """Until the bridge forwarded `count` message events (the page counts a message unread before that)."""
        await self._wait(lambda: sum(kind == "message" for kind, _ in self.events) >= count)

    async def wait_for_kind(self, kind: str) -> None:
        await self._wait(lambda: any(seen == kind for seen, _ in self.events))

    async def js(self, script: str, argument: Any = None) -> Any:
        async with asyncio.timeout(WAIT_S):
            return await self.page.evaluate(script, argument)

    async def unread(self) -> int:
        chats = await self.js("() => WPP.chat.list({onlyWithUnreadMessage: true})")
        return sum(chat["unreadCount"] for chat in chats)


@asynccontextmanager
async def simulator_page(browser: Browser, simulator: Simulator) -> AsyncIterator[BridgePage]:
    """The fake WhatsApp Web in a fresh context, with the bot's binding recording events; no bridge yet."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        bridged = BridgePage(page)
        await page.expose_binding(BINDING_NAME, bridged.record)
        await page.goto(simulator.base_url)
        yield bridged
    finally:
        await context.close()


@pytest.fixture
async def bridge_page(browser: Browser, simulator: Simulator, sim: SimulatorClient) -> AsyncIterator[BridgePage]:
    """A linked page with the bridge in it."""
    async with simulator_page(browser, simulator) as bridged:
        await install_bridge(bridged.page, DEFAULT_WA_JS)
        await bridged.wait_for_status(hasAuthCode=True)
        await sim.link()
        await bridged.wait_for_status(authenticated=True, mainReady=True, mode="MAIN")
        yield bridged


async def test_a_chat_is_marked_read_only_up_to_the_newest_answered_message(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    first = await sim.send(ANA, "first", name="Ana")
    second = await sim.send(ANA, "second", name="Ana")
    await bridge_page.wait_for_messages(2)
    assert await bridge_page.unread() == 2
    # The bot answered "first" while "second" waits in its queue: the contact must not see "second" as read.
    assert await bridge_page.js("([chat, id]) => window.__waBot.markRead(chat, id)", [ANA_CHAT, first]) is False
    assert await bridge_page.unread() == 2
    assert await bridge_page.js("([chat, id]) => window.__waBot.markRead(chat, id)", [ANA_CHAT, second]) is True
    assert await bridge_page.unread() == 0


async def test_a_send_refused_by_a_moving_connection_is_not_steady(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    send = "([chat, text]) => window.__waBot.sendText(chat, text, null)"
    await sim.set_state("SYNCING")
    await bridge_page.wait_for_status(mode="SYNCING")
    refused = await bridge_page.js(send, [ANA_CHAT, "held"])
    assert refused["steady"] is False and "SYNCING" in refused["refused"]

    await sim.set_state("CONNECTED")
    await bridge_page.wait_for_status(mode="MAIN")
    # Steadily connected and still refused: a real refusal, the bot must not retry it forever.
    refused = await bridge_page.js(send, ["not-a-chat", "nonsense"])
    assert refused["steady"] is True
    sent = await bridge_page.js(send, [ANA_CHAT, "hello"])
    assert sent["id"].startswith(f"true_{ANA_CHAT}_")


async def test_a_qr_that_went_idle_before_the_bridge_is_reported_idle(
    browser: Browser, simulator: Simulator, sim: SimulatorClient
) -> None:
    async with simulator_page(browser, simulator) as bridged:
        async with sim.phone(ANA) as phone:
            await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, WAIT_S)
        await sim.qr_idle()  # before anyone listens to conn.qrcode_idle
        await bridged.js(IDLE_IN_PAGE)
        await install_bridge(bridged.page, DEFAULT_WA_JS)
        await bridged.wait_for_status(loaded=True, idle=True, authenticated=False)


def message_events(bridged: BridgePage) -> list[dict[str, Any]]:
    return [payload for kind, payload in bridged.events if kind == "message"]


async def test_group_mentions_of_the_own_number_and_own_messages_are_forwarded(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    ben = "15557654321"
    await sim.send(ANA, "@15550000000 are you there?", group=True, mention_me=True)
    await sim.send(ANA, f"@{ben} not you", group=True, mentions=[ben])
    await sim.send(ANA, "no mention", group=True)
    await sim.send_from_phone(ANA, "typed on the phone")
    await bridge_page.wait_for_messages(4)
    mentioned, other, plain, own = message_events(bridge_page)
    assert mentioned["isGroupMsg"] is True and mentioned["author"] == ANA_CHAT
    assert mentioned["chatId"].endswith("@g.us")
    assert [mentioned["mentionsMe"], other["mentionsMe"], plain["mentionsMe"]] == [True, False, False]
    assert own["fromMe"] is True and own["chatId"] == ANA_CHAT and own["mentionsMe"] is False
    assert not any(event["toSelf"] for event in (mentioned, other, plain, own))


async def test_the_bots_own_sends_stay_in_the_page_and_only_receipts_come_out(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    send = "([chat, text, id]) => window.__waBot.sendText(chat, text, id)"
    async with sim.phone(ANA) as phone:
        sent = await bridge_page.js(send, [ANA_CHAT, "hello from the bot", "3EB0AAAABBBBCCCCDDDD"])
        assert sent["ack"] == 1  # the send call itself says it reached the server
        await phone.wait_for_replies(1, WAIT_S)
        await bridge_page.wait_for_kind("ack")
    # After the send's echo would have come: the one message forwarded is the operator's, typed on the phone.
    await sim.send_from_phone(ANA, "typed on the phone")
    await bridge_page.wait_for_messages(1)
    (own,) = message_events(bridge_page)
    assert own["body"] == "typed on the phone" and own["fromMe"] is True
    acks = [payload for kind, payload in bridge_page.events if kind == "ack"]
    assert [ack["ack"] for ack in acks] == [2] and acks[0]["ids"] == [f"true_{ANA_CHAT}_3EB0AAAABBBBCCCCDDDD"]


async def test_the_message_yourself_chat_is_told_apart(
    bridge_page: BridgePage, simulator: Simulator, sim: SimulatorClient
) -> None:
    own_number = simulator.state.own_number
    await sim.send_from_phone(own_number, "/status")
    await bridge_page.wait_for_messages(1)
    (command,) = message_events(bridge_page)
    assert command["toSelf"] is True and command["fromMe"] is True and command["chatId"] == f"{own_number}@c.us"


async def test_unread_groups_are_read_back_with_their_flags(bridge_page: BridgePage, sim: SimulatorClient) -> None:
    await sim.send(ANA, "direct", name="Ana")
    await sim.send(ANA, "in the group", group=True, mention_me=True)
    await sim.send_media(ANA, "image", caption="a caption")
    await bridge_page.wait_for_messages(3)
    unread = await bridge_page.js("() => window.__waBot.unread(50)")
    assert sorted((m["type"], m["caption"] or m["body"], m["isGroupMsg"], m["mentionsMe"]) for m in unread) == [
        ("chat", "direct", False, False),
        ("chat", "in the group", True, True),
        ("image", "a caption", False, False),
    ]


DOWNLOAD = "([id, maxBytes]) => window.__waBot.downloadMedia(id, maxBytes)"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # every byte value, so any mangling shows


async def test_media_is_downloaded_as_base64_unless_larger_than_the_limit(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    photo = await sim.send_media(ANA, "image", caption="is this the part?", data=PHOTO)
    await bridge_page.wait_for_messages(1)
    got = await bridge_page.js(DOWNLOAD, [photo, len(PHOTO)])
    assert (got["mimetype"], got["size"], base64.b64decode(got["data"])) == ("image/jpeg", len(PHOTO), PHOTO)
    # One byte over the limit: refused, with the size, before anything is converted.
    too_big = await bridge_page.js(DOWNLOAD, [photo, len(PHOTO) - 1])
    assert too_big["refused"] == "too_big" and "data" not in too_big
    assert (too_big["size"], too_big["mimetype"]) == (len(PHOTO), "image/jpeg")


async def test_a_message_without_a_file_or_unknown_to_the_page_is_refused_by_its_code(
    bridge_page: BridgePage, sim: SimulatorClient
) -> None:
    text = await sim.send(ANA, "only words")
    await bridge_page.wait_for_messages(1)
    refused = await bridge_page.js(DOWNLOAD, [text, 1_000_000])
    assert refused == {"refused": "message_not_contains_media", "reason": f"Message {text} not contains media"}
    refused = await bridge_page.js(DOWNLOAD, [f"false_{ANA_CHAT}_3EB0000000000000", 1_000_000])
    assert refused["refused"] == "msg_not_found"
    # Anything else is a page failure, not "no file".
    with pytest.raises(PlaywrightError, match="invalid message id"):
        await bridge_page.js(DOWNLOAD, ["nonsense", 1_000_000])


def test_reactions_never_become_messages() -> None:
    # wa-js reports a reaction as chat.new_reaction, which the bridge does not listen to; were one ever to come
    # through as a message, its type is not one a person writes to the bot.
    assert "chat.new_message" in BRIDGE_SOURCE and "new_reaction" not in BRIDGE_SOURCE
    reaction = PageMessage(id=f"false_{ANA_CHAT}_R1", chatId=ANA_CHAT, type="reaction", body="\U0001f44d")
    assert to_incoming(reaction) is None
