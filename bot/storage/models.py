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
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    @property
    def display_name(self) -> str:
        return self.name or self.push_name or self.phone


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored, not answered yet
    REPLIED = "replied"  # inbound, its answer was sent
    PENDING = "pending"  # outbound, stored, not sent yet
    SENT = "sent"  # outbound, accepted by WhatsApp
    FAILED = "failed"  # outbound, could not be sent


class Message(Document):
    """One WhatsApp text message, either way. `wa_id` is WhatsApp's id, unique; outbound gets it once sent."""

    id: str = Field(default_factory=new_id, alias="_id")
    contact_id: str
    direction: Direction
    status: MessageStatus
    text: str
    wa_id: str | None = None
    in_reply_to: str | None = Field(None, description="for a reply: the id of the inbound message it answers")
    reply_id: str | None = Field(None, description="for an inbound message: the id of the reply that answered it")
    # The bot's clock orders a conversation; WhatsApp's own timestamps have one-second resolution.
    created_at: datetime = Field(default_factory=storage_time, description="when the bot stored it")
    wa_time: datetime | None = Field(None, description="inbound: when the contact sent it, by WhatsApp's clock")
    sent_at: datetime | None = None
    error: str | None = None


class Persona(Document):
    """How the bot speaks: `id` is the persona's name, `instructions` the text given to the model."""

    instructions: str
    updated_at: datetime = Field(default_factory=utc_now)
