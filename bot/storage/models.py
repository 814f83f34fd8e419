"""The documents the bot keeps in MongoDB, as pydantic models (field `id` is stored as `_id`)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    return datetime.now(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_last_stored_ms = 0


def storage_time() -> datetime:
    """Now, to the millisecond, strictly later than the previous call in this process.

    MongoDB keeps milliseconds; two messages stored in the same millisecond would otherwise tie, and the
    order of a conversation would be lost. One daemon process owns an account, so this orders it exactly.
    """
    global _last_stored_ms
    now_ms = time.time_ns() // 1_000_000
    _last_stored_ms = max(now_ms, _last_stored_ms + 1)
    return EPOCH + timedelta(milliseconds=_last_stored_ms)  # exact, unlike a float timestamp


def new_id() -> str:
    return uuid.uuid4().hex


class Document(BaseModel):
    """Base for stored documents: maps `id` to Mongo's `_id` and normalises datetimes to UTC."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")

    def to_mongo(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    @classmethod
    def from_mongo(cls, raw: dict[str, Any]) -> Self:
        # pymongo returns naive datetimes unless tz_aware; stored values are always UTC.
        return cls.model_validate(
            {
                key: value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
                for key, value in raw.items()
            }
        )


class Contact(Document):
    """Someone who writes to the operator; `id` is the WhatsApp chat id (`15551234567@c.us`)."""

    phone: str
    push_name: str | None = Field(None, description="the name the contact gave themselves in WhatsApp")
    name: str | None = Field(None, description="what the operator calls them")
    relationship: str | None = Field(None, description="who they are to the operator: client, sister, ...")
    notes: str | None = None
    persona: str | None = Field(None, description="persona for this contact, else the default one")
    blocked: bool = Field(False, description="never answered (the operator blocked them for the bot)")
    auto_reply: bool = Field(True, description="answered by the bot; off: the operator answers them")
    priority: int = Field(0, description="who is answered first when many wait: higher first")
    paused_until: datetime | None = Field(
        None, description="not answered before this (the operator took the chat over, or a flood pause)"
    )
    pause_reason: str | None = Field(None, description="why the contact is paused")
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    @property
    def display_name(self) -> str:
        return self.name or self.push_name or self.phone

    def paused_at(self, now: datetime) -> bool:
        """Whether the bot must leave them alone at `now`; a pause ends by itself."""
        return self.paused_until is not None and self.paused_until > now


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(StrEnum):
    """Where a message is in its life; bot/storage/messages.py holds every transition between these.

    An inbound message carries the state of its answer; a reply (outbound) carries its own sending state.
    """

    RECEIVED = "received"  # inbound: stored, waiting for an answer
    ANSWERING = "answering"  # inbound: a worker took it and is asking the model
    REPLY_PENDING = "reply-pending"  # inbound: its reply is stored with the id chosen for it, and being sent
    PENDING = "pending"  # outbound: stored with the id chosen for it, not known to be sent yet
    SENT = "sent"  # outbound: accepted by WhatsApp; inbound: its reply was
    DELIVERED = "delivered"  # from acks: the contact's phone has the reply (inbound: its reply)
    READ = "read"  # from acks: the contact read the reply (inbound: its reply)
    FALLBACK = "answered-by-fallback"  # inbound: the model could not answer; covered by a fallback, still owed
    SKIPPED = "skipped"  # inbound: not answered on purpose (`reason` says why)
    STALE = "stale"  # inbound: too old when the bot got to it; reported to the operator, never answered late
    FAILED = "failed"  # either way: could not be answered or sent (`error` says why)


# Inbound messages a worker must still finish; everything else is settled.
UNFINISHED = frozenset({MessageStatus.RECEIVED, MessageStatus.ANSWERING, MessageStatus.REPLY_PENDING})
# Outbound messages the contact has on their phone (so they belong to the conversation).
GONE_OUT = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})


class Message(Document):
    """One WhatsApp message, either way. `wa_id` is WhatsApp's id, unique; a reply gets it once sent."""

    id: str = Field(default_factory=new_id, alias="_id")
    contact_id: str
    direction: Direction
    status: MessageStatus
    text: str
    kind: str = Field("chat", description="WhatsApp's message type: chat (text), image, audio, sticker...")
    is_group: bool = Field(False, description="inbound: written in a group (contact_id is then the group)")
    author: str | None = Field(None, description="inbound, in a group: who wrote it")
    mentions_me: bool = Field(False, description="inbound: the account's number is among its mentions")
    wa_id: str | None = None
    wa_key: str | None = Field(None, description="for a reply: the message id the bot chose before sending it")
    in_reply_to: str | None = Field(None, description="for a reply: the newest inbound message it answers")
    answers: list[str] | None = Field(None, description="for a reply: every inbound message it answers")
    turn: str | None = Field(None, description="the turn (one worker's pass over a contact) that took it up")
    reply_id: str | None = Field(None, description="for an inbound message: the id of the reply that answers it")
    ack: int | None = Field(
        None, description="for a reply: the highest receipt WhatsApp reported (2 delivered, 3 read)"
    )
    fallback: bool = Field(False, description="for a reply: the fallback text, sent because the model failed")
    attempts: int = Field(0, description="for an inbound message: how many times a worker took it up")
    # The bot's clock orders a conversation; WhatsApp's own timestamps have one-second resolution.
    created_at: datetime = Field(default_factory=storage_time, description="when the bot stored it")
    updated_at: datetime | None = Field(None, description="when its status last changed")
    wa_time: datetime | None = Field(None, description="inbound: when the contact sent it, by WhatsApp's clock")
    sent_at: datetime | None = None
    reason: str | None = Field(None, description="why it was skipped, or why it went stale")
    error: str | None = None


class Persona(Document):
    """How the bot speaks: `id` is the persona's name, `instructions` the text given to the model."""

    instructions: str
    updated_at: datetime = Field(default_factory=utc_now)
