"""What the page sends about messages and login codes, and what the WhatsApp client hands to the rest of the bot."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


def new_message_id() -> str:
    """An id in WhatsApp Web's own format (3EB0 + 16 hex digits), chosen by the bot before sending."""
    return "3EB0" + secrets.token_hex(8).upper()


class IncomingMessage(BaseModel):
    """A message a contact sent to the operator in a one-to-one chat: a text, or media with its caption."""

    model_config = ConfigDict(frozen=True)

    wa_id: str = Field(description="WhatsApp's serialized message id, unique")
    chat_id: str = Field(description="the contact's chat id, e.g. 15551234567@c.us")
    phone: str
    push_name: str | None = None
    text: str = Field(description="the text, or a media message's caption (may be empty)")
    kind: str = Field("chat", description="WhatsApp's message type: chat (a text), image, ptt, sticker...")
    sent_at: datetime


class MessageAck(BaseModel):
    """WhatsApp's receipt for messages the bot sent: 2 delivered to the contact's phone, 3 read, 4 played."""

    model_config = ConfigDict(frozen=True)

    ids: list[str]
    ack: int


class LoginCode(BaseModel):
    """The content of the QR code the operator scans to link the bot."""

    model_config = ConfigDict(frozen=True)

    ref: str
    full_code: str


class MessageHandler(Protocol):
    async def __call__(self, message: IncomingMessage) -> None: ...


class AckHandler(Protocol):
    async def __call__(self, ack: MessageAck) -> None: ...


class LoginCodeHandler(Protocol):
    async def __call__(self, code: LoginCode | None) -> None: ...


class PageMessage(BaseModel):
    """A message as the bridge script serialises wa-js's MsgModel (see bridge.js)."""

    id: str
    fromMe: bool = False
    chatId: str | None = None
    author: str | None = None
    body: str | None = None
    caption: str | None = None
    type: str | None = None
    t: float | None = None
    notifyName: str | None = None
    isGroupMsg: bool = False
    isStatusV3: bool = False
    broadcast: bool = False
    isNewMsg: bool = True


# Servers of one-to-one chats: phone-number ids and WhatsApp's newer linked ids.
PERSONAL_CHAT_SERVERS = ("c.us", "lid")
# What a person sends. Everything else in a chat (encryption notices, calls, deleted or not yet decrypted
# messages, system notes) is WhatsApp talking, not the contact.
CONTENT_TYPES = frozenset(
    {"chat", "image", "video", "audio", "ptt", "document", "sticker", "location", "vcard", "multi_vcard"}
    | {"poll_creation"}
)


def to_incoming(raw: PageMessage, *, from_history: bool = False) -> IncomingMessage | None:
    """Keep only what contacts send in personal chats: not our own, not groups, not statuses, not system notes.

    Events must be new messages; messages read back from a chat (`from_history`, the unread ones) need not be.
    Media comes through with its caption as text: the pipeline decides what to do with it.
    """
    if raw.fromMe or raw.isGroupMsg or raw.isStatusV3 or raw.broadcast or not (raw.isNewMsg or from_history):
        return None
    if raw.type not in CONTENT_TYPES or not raw.chatId:
        return None
    user, _, server = raw.chatId.partition("@")
    if server not in PERSONAL_CHAT_SERVERS or not user:
        return None
    # A media message's body is its thumbnail (base64), never text.
    text = (raw.body if raw.type == "chat" else raw.caption) or ""
    sent_at = datetime.fromtimestamp(raw.t, UTC) if raw.t else datetime.now(UTC)
    return IncomingMessage(
        wa_id=raw.id,
        chat_id=raw.chatId,
        phone=user,
        push_name=raw.notifyName,
        text=text,
        kind=raw.type,
        sent_at=sent_at,
    )
