"""What a message carries beyond its text: media with captions, mentions (of the operator too), own messages."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.simulator import Simulator
from bot.simulator.inbound import BadInput, parse_incoming
from bot.simulator.state import SimState

ANA = "15551234567"
BEN = "15557654321"
OPERATOR = "15550000000"
GROUP = "120363000000000-1700000000@g.us"


def _wire_of(state: SimState, key: str) -> dict[str, Any]:
    message = state.store.find(key)
    assert message is not None
    return message.to_wire(state.own_wid)


def test_mentions_and_mention_me_become_the_mentioned_wids() -> None:
    state = SimState(OPERATOR)
    body = {"from": ANA, "text": f"@{BEN} @{OPERATOR} look", "group": True, "mentions": [BEN], "mention_me": True}
    key, _ = state.post(parse_incoming(body))
    assert _wire_of(state, key)["mentionedJidList"] == [f"{BEN}@c.us", f"{OPERATOR}@c.us"]
    # Naming the operator's number explicitly is the same mention, not a second one.
    body = {"from": ANA, "text": "hi", "group": True, "mentions": [f"+{OPERATOR}"], "mention_me": True}
    key, _ = state.post(parse_incoming(body))
    assert _wire_of(state, key)["mentionedJidList"] == [f"{OPERATOR}@c.us"]
    key, _ = state.post(parse_incoming({"from": ANA, "text": "no mentions"}))
    assert _wire_of(state, key)["mentionedJidList"] == []


def test_media_has_its_caption_and_a_thumbnail_body_like_wa_js() -> None:
    state = SimState(OPERATOR)
    key, _ = state.post(parse_incoming({"from": ANA, "type": "image", "caption": "is this the part?"}))
    image = _wire_of(state, key)
    assert image["type"] == "image" and image["caption"] == "is this the part?"
    assert image["body"].startswith("/9j/")  # a JPEG thumbnail, never the caption
    key, _ = state.post(parse_incoming({"from": ANA, "type": "ptt"}))
    voice = _wire_of(state, key)
    assert voice["type"] == "ptt" and voice["body"] == "" and "caption" not in voice
    key, _ = state.post(parse_incoming({"from": ANA, "type": "location"}))
    assert {"lat", "lng"} <= set(_wire_of(state, key))
    # The contact's phone shows what was sent, not a thumbnail.
    assert [m["text"] for m in state.store.phone_history(f"{ANA}@c.us")] == [
        "[image] is this the part?",
        "[ptt]",
        "[location]",
    ]


def test_text_is_unchanged_whatever_its_characters() -> None:
    state = SimState(OPERATOR)
    for text in ("   ", "\u200b\u200d", "\u0645\u0631\u062d\u0628\u0627", "\U0001f600\U0001f44d", "x" * 65_536):
        key, _ = state.post(parse_incoming({"from": ANA, "text": text}))
        assert _wire_of(state, key)["body"] == text


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"from": ANA, "text": "hi", "mentions": "15557654321"}, "mentions"),
        ({"from": ANA, "text": "hi", "mentions": ["bob"]}, "digits"),
        ({"from": ANA, "text": "hi", "mention_me": "yes"}, "mention_me"),
        ({"from": ANA, "type": "gif"}, "type"),
        ({"from": ANA, "type": "image", "text": "caption here"}, "caption"),
        ({"from": ANA, "type": "sticker", "caption": "no"}, "caption"),
        ({"from": ANA, "type": "image", "caption": 5}, "caption"),
        ({"from": ANA, "text": "hi", "caption": "x"}, "caption"),
        ({"from": ANA, "type": "image", "caption": "x" * 65_537}, "longer"),
    ],
)
def test_bad_content_is_refused_with_a_clear_error(body: dict[str, Any], mentions: str) -> None:
    with pytest.raises(BadInput, match=mentions):
        parse_incoming(body)


async def test_a_mention_of_the_bot_reaches_the_page_as_wids_equal_to_its_own_id(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    await wa.js(
        """() => { window.__next = new Promise((resolve) => WPP.once('chat.new_message', (m) => resolve({
            mentioned: m.mentionedJidList.map((w) => w._serialized),
            mine: m.mentionedJidList.some((w) => w.equals(WPP.conn.getMyUserId())),
            group: m.isGroupMsg,
        }))); }"""
    )
    body = {"from": ANA, "text": f"@{OPERATOR} help", "group": True, "mentions": [BEN], "mention_me": True}
    await call_api("POST", "api/messages", body)
    assert await wa.js("() => window.__next") == {
        "mentioned": [f"{BEN}@c.us", f"{OPERATOR}@c.us"],
        "mine": True,
        "group": True,
    }


async def test_media_and_own_phone_messages_reach_the_page_as_new_messages(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    await call_api("POST", "api/messages", {"from": ANA, "type": "image", "caption": "look"})
    await call_api("POST", "api/messages", {"from_me": True, "to": ANA, "text": "typed on the phone"})
    image, own = await wa.log.wait_count("chat.new_message", 2)
    assert (image["type"], image["caption"], image["id"]["fromMe"]) == ("image", "look", False)
    # Like WhatsApp Web for a message sent from the phone: a new message, from this account.
    assert own["id"]["fromMe"] is True and own["isNewMsg"] is True and own["body"] == "typed on the phone"
    assert own["from"]["_serialized"] == f"{OPERATOR}@c.us" and own["to"]["_serialized"] == f"{ANA}@c.us"


async def test_the_control_api_takes_the_new_fields(
    http: aiohttp.ClientSession, simulator: Simulator, call_api
) -> None:
    group = await call_api(
        "POST", "api/messages", {"from": ANA, "text": "hey", "group": "1-2", "mentions": [BEN], "mention_me": True}
    )
    assert group["id"].startswith("false_1-2@g.us_")
    media = await call_api("POST", "api/messages", {"from": ANA, "type": "document", "caption": "the invoice"})
    assert media["id"].startswith(f"false_{ANA}@c.us_")
    async with http.post(simulator.base_url + "api/messages", json={"from": ANA, "type": "gif"}) as response:
        assert response.status == 400 and "type" in (await response.json())["error"]
