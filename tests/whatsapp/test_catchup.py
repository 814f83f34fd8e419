"""Reading back unread chats: contacts' and groups' messages come through, own ones never do."""

from __future__ import annotations

from typing import Any, cast

from bot.whatsapp.catchup import UNREAD_JS, read_unread
from bot.whatsapp.page import PageBridge

CONTACT = {"id": "false_15551234567@c.us_A1", "chatId": "15551234567@c.us", "body": "hi", "type": "chat"}


class ScriptedBridge:
    """Answers the unread call with fixed page messages, as bridge.js would serialise them."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.calls: list[str] = []

    async def call(self, script: str, *args: Any, timeout_s: float, action: str) -> Any:
        self.calls.append(script)
        return self.messages


async def read(messages: list[Any]) -> list[str]:
    bridge = ScriptedBridge(messages)
    found = await read_unread(cast(PageBridge, bridge), timeout_s=1.0)
    assert bridge.calls == [UNREAD_JS]
    return [message.wa_id for message in found]


async def test_unread_messages_keep_their_order_and_flags() -> None:
    group = {
        "id": "false_1-2@g.us_B1_15557654321@c.us",
        "chatId": "1-2@g.us",
        "author": "15557654321@c.us",
        "isGroupMsg": True,
        "body": "@15550000000 hello",
        "type": "chat",
        "mentionsMe": True,
        "isNewMsg": False,
    }
    bridge = ScriptedBridge([CONTACT | {"isNewMsg": False}, group])
    found = await read_unread(cast(PageBridge, bridge), timeout_s=1.0)
    assert [m.wa_id for m in found] == [CONTACT["id"], group["id"]]
    assert (found[1].is_group, found[1].mentions_me, found[1].author) == (True, True, "15557654321@c.us")


async def test_own_messages_in_the_unread_window_are_left_out() -> None:
    # Unread counts from a chat's end: a reply sent without marking the chat read can fall inside the window.
    own = CONTACT | {"id": "true_15551234567@c.us_R1", "fromMe": True, "body": "the reply"}
    assert await read([CONTACT, own]) == [CONTACT["id"]]


async def test_a_message_in_an_unexpected_shape_is_skipped_not_fatal() -> None:
    assert await read([{"no": "id"}, "nonsense", CONTACT]) == [CONTACT["id"]]
