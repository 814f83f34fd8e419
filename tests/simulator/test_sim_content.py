"""What a message carries beyond its text: media with captions, mentions (of the operator too), own messages."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from google import genai
from google.genai import types as genai_types

from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.simulator.inbound import MAX_MEDIA_BYTES, BadInput, parse_incoming
from bot.simulator.media import Media, tiny_png
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


# A real 1x1 JPEG is not needed: the bytes only have to come back exactly as they were sent.
JPEG_BYTES = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


def test_media_keeps_its_file_and_the_page_gets_only_its_description() -> None:
    state = SimState(OPERATOR)
    body = {"from": ANA, "type": "image", "caption": "x", "data": base64.b64encode(JPEG_BYTES).decode()}
    key, _ = state.post(parse_incoming(body))
    assert state.media(key) == Media(JPEG_BYTES, "image/jpeg")  # typed from its signature
    wire = _wire_of(state, key)
    assert (wire["mimetype"], wire["size"]) == ("image/jpeg", len(JPEG_BYTES))
    assert wire["mediaData"] == {
        "type": "image",
        "mimetype": "image/jpeg",
        "size": len(JPEG_BYTES),
        "filehash": base64.b64encode(hashlib.sha256(JPEG_BYTES).digest()).decode(),
    }
    assert base64.b64encode(JPEG_BYTES).decode() not in str(wire)  # never the bytes themselves
    # A given mimetype is kept as given.
    body = {"from": ANA, "type": "ptt", "data": "T2dnUw==", "mimetype": "audio/ogg; codecs=opus"}
    key, _ = state.post(parse_incoming(body))
    assert state.media(key) == Media(b"OggS", "audio/ogg; codecs=opus")


def test_an_image_without_data_is_a_small_real_png_and_texts_locations_and_cards_have_no_file() -> None:
    state = SimState(OPERATOR)
    key, _ = state.post(parse_incoming({"from": ANA, "type": "image"}))
    media = state.media(key)
    assert media is not None and media.mimetype == "image/png"
    assert media.data.startswith(b"\x89PNG\r\n\x1a\n") and media.data[12:16] == b"IHDR"
    assert struct.unpack(">II", media.data[16:24]) == (8, 8)
    for kind in ("video", "audio", "ptt", "document", "sticker"):
        key, _ = state.post(parse_incoming({"from": ANA, "type": kind}))
        assert (media := state.media(key)) is not None and media.data, kind
        assert _wire_of(state, key)["mediaData"]["mimetype"] == media.mimetype
    for body in ({"from": ANA, "text": "hi"}, {"from": ANA, "type": "location"}, {"from": ANA, "type": "vcard"}):
        key, _ = state.post(parse_incoming(body))
        assert state.media(key) is None and "mediaData" not in _wire_of(state, key)
    assert state.media("false_15551234567@c.us_NOSUCHID") is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"from": ANA, "text": "hi", "data": "aGk="}, "carries no file"),
        ({"from": ANA, "type": "location", "mimetype": "image/png"}, "carries no file"),
        ({"from": ANA, "type": "image", "data": "not base64!"}, "base64"),
        ({"from": ANA, "type": "image", "data": ""}, "empty"),
        ({"from": ANA, "type": "image", "data": 5}, "base64"),
        ({"from": ANA, "type": "image", "mimetype": "image/png\r\nX-Evil: 1"}, "mimetype"),
        ({"from": ANA, "type": "image", "mimetype": "png"}, "mimetype"),
        ({"from": ANA, "type": "image", "data": "A" * (MAX_MEDIA_BYTES // 3 * 4 + 8)}, "larger"),
    ],
)
def test_bad_media_is_refused_with_a_clear_error(body: dict[str, Any], error: str) -> None:
    with pytest.raises(BadInput, match=error):
        parse_incoming(body)


async def test_the_media_route_gives_the_exact_bytes_with_their_type(
    http: aiohttp.ClientSession, simulator: Simulator, sim: SimulatorClient
) -> None:
    image = await sim.send_media(ANA, "image", caption="the part", data=JPEG_BYTES)
    voice = await sim.send_media(ANA, "ptt", data=b"OggS\x00voice", mimetype="audio/ogg; codecs=opus")
    text = await sim.send(ANA, "no file here")
    for key, data, mimetype in ((image, JPEG_BYTES, "image/jpeg"), (voice, b"OggS\x00voice", "audio/ogg; codecs=opus")):
        async with http.get(simulator.base_url + "api/media/" + quote(key, safe="")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == mimetype
            assert await response.read() == data
    for key in (text, "false_15551234567@c.us_NOSUCHID"):
        async with http.get(simulator.base_url + "api/media/" + quote(key, safe="")) as response:
            assert response.status == 404 and "no media" in (await response.json())["error"]


DOWNLOAD_JS = """async (id) => {
  try {
    const blob = await WPP.chat.downloadMedia(id);
    const bytes = Array.from(new Uint8Array(await blob.arrayBuffer()));
    let width = null;
    if (blob.type.startsWith('image/png')) width = (await createImageBitmap(blob)).width;
    return {type: blob.type, size: blob.size, bytes, width};
  } catch (error) {
    return {code: error && error.code, message: String(error && error.message), isError: error instanceof Error};
  }
}"""


async def test_the_page_downloads_media_like_wa_js(open_page, call_api, sim: SimulatorClient) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    image = await sim.send_media(ANA, "image", data=JPEG_BYTES)
    png = await sim.send_media(ANA, "image", caption="default bytes")
    text = await sim.send(ANA, "just words")
    location = await sim.send_media(ANA, "location")
    await wa.log.wait_count("chat.new_message", 4)

    got = await wa.js(DOWNLOAD_JS, image)
    assert (got["type"], bytes(got["bytes"])) == ("image/jpeg", JPEG_BYTES)
    got = await wa.js(DOWNLOAD_JS, png)
    assert (got["type"], got["width"]) == ("image/png", 8)  # a picture the browser can decode
    # Also given as a MsgKey, as wa-js accepts.
    got = await wa.js(f"(id) => WPP.chat.getMessageById(id).then((m) => ({DOWNLOAD_JS})(m.id))", image)
    assert got["size"] == len(JPEG_BYTES)

    for key in (text, location):
        refused = await wa.js(DOWNLOAD_JS, key)
        assert refused == {
            "code": "message_not_contains_media",
            "message": f"Message {key} not contains media",
            "isError": True,
        }
    assert (await wa.js(DOWNLOAD_JS, f"false_{ANA}@c.us_NOSUCHID"))["code"] == "msg_not_found"
    assert (await wa.js(DOWNLOAD_JS, "false_15559999999@c.us_NOSUCHID"))["code"] == "chat_not_found"

    await sim.set_state("OFFLINE")
    await wa.wait_mode("OFFLINE")
    # wa-js throws a plain object, not an Error, when the file cannot be fetched.
    assert await wa.js(DOWNLOAD_JS, image) == {
        "code": "media_not_found",
        "message": "Media not found",
        "isError": False,
    }


async def test_the_fake_gemini_lists_the_files_a_request_carried(simulator: Simulator, sim: SimulatorClient) -> None:
    gemini = genai.Client(api_key="test", http_options=genai_types.HttpOptions(base_url=simulator.gemini_base_url))
    try:
        png = tiny_png()
        # Bytes whose base64 needs the URL-safe alphabet, as the SDK sends them.
        odd = bytes([0xFB, 0xFF, 0xBF]) * 11
        await gemini.aio.models.generate_content(
            model="gemini-2.5-flash",
            contents=[
                genai_types.Content(role="user", parts=[genai_types.Part(text="earlier, no file")]),
                genai_types.Content(
                    role="user",
                    parts=[
                        genai_types.Part(text="what is this?"),
                        genai_types.Part.from_bytes(data=png, mime_type="image/png"),
                        genai_types.Part.from_bytes(data=odd, mime_type="application/octet-stream"),
                    ],
                ),
            ],
        )
    finally:
        await gemini.aio.aclose()
    [request] = await sim.gemini_requests()
    assert request.contents[0].media == []
    assert [(m.mime_type, m.bytes) for m in request.media] == [
        ("image/png", len(png)),
        ("application/octet-stream", len(odd)),
    ]
