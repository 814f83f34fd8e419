"""What the page sends about messages and login codes, and what the WhatsApp client hands to the rest of the bot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class IncomingMessage(BaseModel):
    """A text a contact sent to the operator in a one-to-one chat."""

    model_config = ConfigDict(frozen=True)

    wa_id: str = Field(description="WhatsApp's serialized message id, unique")
    chat_id: str = Field(description="the contact's chat id, e.g. 15551234567@c.us")
    phone: str
    push_name: str | None = None
    text: str
    sent_at: datetime


class LoginCode(BaseModel):
    """The content of the QR code the operator scans to link the bot."""

    model_config = ConfigDict(frozen=True)

    ref: str
    full_code: str


class MessageHandler(Protocol):
    async def __call__(self, message: IncomingMessage) -> None: ...


class LoginCodeHandler(Protocol):
    async def __call__(self, code: LoginCode | None) -> None: ...


class PageMessage(BaseModel):
    """A message as the bridge script serialises wa-js's MsgModel (see bridge.js)."""

    id: str
    fromMe: bool = False
    chatId: str | None = None
    author: str | None = None
    body: str | None = None
    type: str | None = None
    t: float | None = None
    notifyName: str | None = None
    isGroupMsg: bool = False
    isStatusV3: bool = False
    broadcast: bool = False
    isNewMsg: bool = True


# Servers of one-to-one chats: phone-number ids and WhatsApp's newer linked ids.
PERSONAL_CHAT_SERVERS = ("c.us", "lid")


def to_incoming(raw: PageMessage, *, from_history: bool = False) -> IncomingMessage | None:
    """Keep only text messages from contacts in personal chats: not our own, not groups, not statuses.

    Events must be new messages; messages read back from a chat (`from_history`, the unread ones) need not be.
    """
    if raw.fromMe or raw.isGroupMsg or raw.isStatusV3 or raw.broadcast or not (raw.isNewMsg or from_history):
        return None
    if raw.type != "chat" or not raw.body or not raw.chatId:
        return None
    user, _, server = raw.chatId.partition("@")
    if server not in PERSONAL_CHAT_SERVERS or not user:
        return None
    sent_at = datetime.fromtimestamp(raw.t, UTC) if raw.t else datetime.now(UTC)
    return IncomingMessage(
        wa_id=raw.id, chat_id=raw.chatId, phone=user, push_name=raw.notifyName, text=raw.body, sent_at=sent_at
    )
