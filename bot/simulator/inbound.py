"""Checking a POST /api/messages body: a contact's message (text or media, mentions), a status post, or the
operator typing on the phone."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from bot.simulator.ids import (
    STATUS_BROADCAST,
    contact_wid,
    group_wid,
    normalise_group,
    normalise_number,
)
from bot.simulator.media import DOWNLOADABLE_TYPES, Media, default_media, guess_mimetype

MAX_TEXT_CHARS = 65_536
MAX_MENTIONS = 256
DEFAULT_GROUP = "120363000000000-1700000000"
_SHORT_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
# Media types (MsgModel.type) a contact can send; the ones WhatsApp lets carry a caption.
MEDIA_TYPES = frozenset({"image", "video", "audio", "ptt", "document", "sticker", "location", "vcard"})
CAPTION_TYPES = frozenset({"image", "video", "document"})
# WhatsApp's own limit for photos, videos and voice notes.
MAX_MEDIA_BYTES = 16 * 1024 * 1024
# type/subtype with optional parameters ("audio/ogg; codecs=opus"); it becomes a Content-Type header.
_MIMETYPE_RE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+(; ?[\w.+-]+=[\w.+-]+)*$")


class BadInput(ValueError):
    """The caller's request cannot be turned into a message (HTTP 400)."""


@dataclass(frozen=True)
class Incoming:
    """A message arriving at the operator's account; sender None means the operator's own phone."""

    chat: str
    sender: str | None
    text: str
    name: str | None
    msg_id: str | None
    age_s: float = 0.0  # sent this long ago: it waited on WhatsApp's servers while nobody was online
    kind: str = "chat"  # MsgModel.type; for media, `text` is the caption (may be empty)
    mentions: tuple[str, ...] = ()  # wids of the people mentioned
    mention_me: bool = False  # the operator's own number is mentioned too (the state knows which it is)
    media: Media | None = None  # the bytes WPP.chat.downloadMedia gives back; None for texts, locations, cards


def parse_incoming(body: Any) -> Incoming:
    """Validate the JSON body; raises BadInput with a message meant for the person who wrote the request."""
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object")
    kind, text = _content(body)
    media = _media(body, kind)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise BadInput('"name" must be a string')
    msg_id = body.get("id")
    if msg_id is not None and (not isinstance(msg_id, str) or not _SHORT_ID_RE.match(msg_id)):
        raise BadInput('"id" must be 1-64 letters or digits (a WhatsApp message id such as 3EB0C767D26A8C1B1E5B)')
    age_s = body.get("age_s", 0)
    if isinstance(age_s, bool) or not isinstance(age_s, int | float) or not 0 <= age_s <= 10 * 365 * 86400:
        raise BadInput('"age_s" must be a number of seconds ago, 0 or more (how long the message waited)')
    mentions, mention_me = _mentions(body)
    from_me = body.get("from_me", False)
    if not isinstance(from_me, bool):
        raise BadInput('"from_me" must be true or false')
    if from_me:
        return Incoming(
            chat=_own_target(body.get("to")),
            sender=None,
            text=text,
            name=None,
            msg_id=msg_id,
            kind=kind,
            mentions=mentions,
            mention_me=mention_me,
            media=media,
        )

    if "from" not in body:
        raise BadInput('"from" is required: the sender\'s phone number, digits only (e.g. "15551234567")')
    number = normalise_number(body["from"])
    if number is None:
        raise BadInput(f'"from" must be a phone number made of digits (e.g. "15551234567"), got {body["from"]!r}')
    group, broadcast = body.get("group", False), body.get("broadcast", False)
    if not isinstance(broadcast, bool):
        raise BadInput('"broadcast" must be true or false')
    if broadcast and group:
        raise BadInput('a message cannot be both "group" and "broadcast"')
    if broadcast:
        chat = STATUS_BROADCAST
    elif group is False or group is None:
        chat = contact_wid(number)
    elif group is True:
        chat = group_wid(DEFAULT_GROUP)
    elif (group_id := normalise_group(group)) is not None:
        chat = group_wid(group_id)
    else:
        raise BadInput('"group" must be true, false or a group id such as "120363000000000-1700000000"')
    return Incoming(
        chat=chat,
        sender=contact_wid(number),
        text=text,
        name=name,
        msg_id=msg_id,
        age_s=float(age_s),
        kind=kind,
        mentions=mentions,
        mention_me=mention_me,
        media=media,
    )


def _content(body: dict[str, Any]) -> tuple[str, str]:
    """(type, text): a text needs "text"; media ("type": "image"...) takes an optional "caption" instead."""
    kind = body.get("type", "chat")
    if kind == "chat":
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise BadInput('"text" is required and must be a non-empty string')
        if "caption" in body:
            raise BadInput('"caption" goes with media ("type": "image"...); a text message has only "text"')
    elif kind in MEDIA_TYPES:
        if "text" in body:
            raise BadInput(f'a {kind} message has no "text"; send its caption as "caption"')
        text = body.get("caption", "")
        if not isinstance(text, str):
            raise BadInput('"caption" must be a string')
        if text and kind not in CAPTION_TYPES:
            raise BadInput(f"WhatsApp has no caption on {kind} messages (only {', '.join(sorted(CAPTION_TYPES))})")
    else:
        raise BadInput(f'"type" must be "chat" or one of {", ".join(sorted(MEDIA_TYPES))}, got {kind!r}')
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput(f'"text" is longer than {MAX_TEXT_CHARS} characters')
    return kind, text


def _media(body: dict[str, Any], kind: str) -> Media | None:
    """The media's bytes: optional "data" (base64) and "mimetype"; without "data", the type's default bytes."""
    raw, mimetype = body.get("data"), body.get("mimetype")
    if kind not in DOWNLOADABLE_TYPES:
        if raw is not None or mimetype is not None:
            raise BadInput(f'a {kind} message carries no file: "data" and "mimetype" go with media such as images')
        return None
    if mimetype is not None and not (
        isinstance(mimetype, str) and len(mimetype) <= 255 and _MIMETYPE_RE.match(mimetype)
    ):
        raise BadInput(f'"mimetype" must be a media type such as "image/jpeg", got {mimetype!r}')
    if raw is None:
        default = default_media(kind)
        assert default is not None
        return Media(default.data, mimetype or default.mimetype)
    if not isinstance(raw, str):
        raise BadInput('"data" must be the file\'s bytes as a base64 string')
    if len(raw) > (MAX_MEDIA_BYTES + 2) // 3 * 4:
        raise BadInput(f'"data" is larger than {MAX_MEDIA_BYTES} bytes')
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f'"data" is not valid base64: {exc}') from exc
    if not data:
        raise BadInput('"data" is empty; leave it out to get the default bytes')
    if len(data) > MAX_MEDIA_BYTES:
        raise BadInput(f'"data" is larger than {MAX_MEDIA_BYTES} bytes')
    return Media(data, mimetype or guess_mimetype(data, kind))


def _mentions(body: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """ "mentions": numbers of people mentioned; "mention_me": the operator's own number is one of them."""
    raw = body.get("mentions", [])
    if not isinstance(raw, list) or len(raw) > MAX_MENTIONS:
        raise BadInput(f'"mentions" must be a list of at most {MAX_MENTIONS} phone numbers (digits)')
    mentions: list[str] = []
    for item in raw:
        number = normalise_number(item)
        if number is None:
            raise BadInput(f'"mentions" must hold phone numbers made of digits, got {item!r}')
        if contact_wid(number) not in mentions:
            mentions.append(contact_wid(number))
    mention_me = body.get("mention_me", False)
    if not isinstance(mention_me, bool):
        raise BadInput('"mention_me" must be true or false')
    return tuple(mentions), mention_me


def _own_target(raw: Any) -> str:
    if raw is None:
        raise BadInput('"to" is required with "from_me": the contact\'s number, digits only')
    if (number := normalise_number(raw)) is not None:
        return contact_wid(number)
    if (group_id := normalise_group(raw)) is not None:
        return group_wid(group_id)
    raise BadInput(f'"to" must be a phone number made of digits or a group id, got {raw!r}')
