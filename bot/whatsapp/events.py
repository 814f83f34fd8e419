"""What the WhatsApp client reports to the rest of the bot, as typed events, and the callback shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class ConnectionState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # browser up, WhatsApp Web loading
    LOGIN_REQUIRED = "login_required"  # showing a QR code: the operator must link the phone
    AUTHENTICATING = "authenticating"  # linked, WhatsApp Web loading its chats
    READY = "ready"  # messages flow both ways
    DISCONNECTED = "disconnected"  # linked, but the stream is offline
    CONFLICT = "conflict"  # WhatsApp Web was opened elsewhere with this account
    LOGGED_OUT = "logged_out"  # the phone unlinked this device
    BLOCKED = "blocked"  # terms-of-service block
    DEPRECATED = "deprecated"  # WhatsApp Web says this version is too old


# wa-js StreamMode values and what they mean for us.
STREAM_MODE_STATES: dict[str, ConnectionState] = {
    "QR": ConnectionState.LOGIN_REQUIRED,
    "SYNCING": ConnectionState.AUTHENTICATING,
    "OFFLINE": ConnectionState.DISCONNECTED,
    "CONFLICT": ConnectionState.CONFLICT,
    "PROXYBLOCK": ConnectionState.DISCONNECTED,
    "TOS_BLOCK": ConnectionState.BLOCKED,
    "SMB_TOS_BLOCK": ConnectionState.BLOCKED,
    "DEPRECATED_VERSION": ConnectionState.DEPRECATED,
}


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


class StateChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    previous: ConnectionState
    current: ConnectionState


class MessageHandler(Protocol):
    async def __call__(self, message: IncomingMessage) -> None: ...


class LoginCodeHandler(Protocol):
    async def __call__(self, code: LoginCode | None) -> None: ...


class StateHandler(Protocol):
    async def __call__(self, change: StateChange) -> None: ...


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


def to_incoming(raw: PageMessage) -> IncomingMessage | None:
    """Keep only new text messages from contacts in personal chats: not our own, not groups, not statuses."""
    if raw.fromMe or raw.isGroupMsg or raw.isStatusV3 or raw.broadcast or not raw.isNewMsg:
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
