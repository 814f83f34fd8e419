"""The documents the bot keeps in MongoDB, as pydantic models (field `id` is stored as `_id`)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


class Relationship(StrEnum):
    """Who a contact is to the operator; each has its own defaults for tone (bot/context/relationships.py)."""

    FAMILY = "family"
    FRIEND = "friend"
    CLIENT = "client"
    COLLEAGUE = "colleague"
    LEAD = "lead"
    OTHER = "other"


class Register(StrEnum):
    FORMAL = "formal"
    CASUAL = "casual"


class ContactStyle(BaseModel):
    """How a contact writes, learned cheaply from every message they send (bot/context/style.py)."""

    language: str | None = Field(None, description="ISO 639-1 code of the language they write in, when clear")
    avg_chars: float = Field(0.0, description="typical length of their messages (moving average)")
    emoji_per_message: float = Field(0.0, description="emoji per message (moving average)")
    formality: Register | None = Field(None, description="formal or casual, when clear")
    samples: int = Field(0, description="messages learned from")


class Contact(Document):
    """Someone who writes to the operator; `id` is the WhatsApp chat id (`15551234567@c.us`).

    Contact-chosen fields (`push_name`) are data the contact controls: they never enter a system instruction.
    Everything else here is the operator's (name, relationship, notes, instructions) or the bot's.
    """

    phone: str
    lid: str | None = Field(None, description="WhatsApp's linked id for the contact (…@lid), when known")
    push_name: str | None = Field(None, description="the name the contact gave themselves in WhatsApp")
    name: str | None = Field(None, description="what the operator calls them")
    relationship: Relationship | None = Field(None, description="who they are to the operator")
    notes: str | None = Field(None, description="the operator's free-text notes about them")
    instructions: str | None = Field(
        None, description="the operator's instructions for answering them (tone, language, topics); these win"
    )
    tags: list[str] = Field(default_factory=list)
    persona: str | None = Field(None, description="persona for this contact, else the default one")
    blocked: bool = Field(False, description="never answered (the operator blocked them for the bot)")
    auto_reply: bool = Field(True, description="answered by the bot; off: the operator answers them")
    priority: int = Field(0, description="who is answered first when many wait: higher first")
    paused_until: datetime | None = Field(
        None, description="not answered before this (the operator took the chat over, a flood, an escalation)"
    )
    pause_reason: str | None = Field(None, description="why the contact is paused")
    message_count: int = Field(0, description="messages received from them")
    last_message_at: datetime | None = Field(None, description="when they last wrote")
    style: ContactStyle | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    @field_validator("relationship", mode="before")
    @classmethod
    def _known_relationship(cls, value: Any) -> Any:
        # Documents written before relationships were a fixed list held free text ("sister", "client, VIP").
        if isinstance(value, str) and value.strip().lower() not in Relationship.__members__.values():
            return Relationship.OTHER
        return value.strip().lower() if isinstance(value, str) else value

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


class ReplyUsage(BaseModel):
    """What one reply used and cost, kept on the reply (the operator's view of what the bot costs)."""

    persona: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    knowledge: list[str] = Field(default_factory=list, description="ids of the knowledge chunks in the prompt")
    cost_usd: float = Field(0.0, description="estimated from the token counts and the configured prices")
    thread_id: str | None = None


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
    usage: ReplyUsage | None = Field(None, description="for a model's reply: what it used and cost")
    attempts: int = Field(0, description="for an inbound message: how many times a worker took it up")
    # The bot's clock orders a conversation; WhatsApp's own timestamps have one-second resolution.
    created_at: datetime = Field(default_factory=storage_time, description="when the bot stored it")
    updated_at: datetime | None = Field(None, description="when its status last changed")
    wa_time: datetime | None = Field(None, description="inbound: when the contact sent it, by WhatsApp's clock")
    sent_at: datetime | None = None
    reason: str | None = Field(None, description="why it was skipped, or why it went stale")
    error: str | None = None


class Organisation(BaseModel):
    """Who the persona speaks for: a business, or the operator as a person."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    services: list[str] = Field(default_factory=list)
    hours: str | None = Field(None, description="opening or working hours, as people should be told them")
    contact: str | None = Field(None, description="phone, e-mail, address, web site")


class PersonaInstructions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tone: str | None = None
    max_chars: int | None = Field(None, ge=20, le=4000, description="longest reply wanted")
    language: str | None = Field(None, description="answer in this language; None: in the contact's")
    topics: list[str] = Field(default_factory=list, description="what the persona helps with")
    avoid: list[str] = Field(default_factory=list, description="topics never discussed")
    escalation_keywords: list[str] = Field(
        default_factory=list, description="words that hand the chat to the human (case-insensitive, whole words)"
    )
    escalation_reply: str = Field(
        "Thanks, I've passed this on to a person, who will get back to you as soon as possible.",
        description="the holding reply sent when a chat is handed to the human",
    )
    media_reply: str | None = Field(None, description="the answer to voice notes and documents the bot cannot read")
    extra: str | None = Field(None, description="anything else, in the operator's words")


class Persona(Document):
    """Who the bot speaks as; `id` is the persona's slug (the TOML file's name in config/personas/)."""

    name: str = Field(description="the name the bot goes by")
    role: str = Field(description="what it is: 'Maria's personal assistant', 'support at Acme Bikes'")
    personality: str | None = None
    style: str | None = None
    organisation: Organisation | None = None
    instructions: PersonaInstructions = Field(default_factory=PersonaInstructions)
    greeting: str | None = Field(None, description="said before the answer to a contact's very first message")
    source: str | None = Field(None, description="the file it was loaded from; None: made by a tool")
    updated_at: datetime = Field(default_factory=utc_now)


class Thread(Document):
    """One conversation with a contact: messages with no idle gap longer than THREAD_IDLE_GAP_S between them.

    Older turns are folded into `summary` by the model, so a months-long relationship stays within the prompt's
    budget; `summarized_until` is the storage time of the newest message the summary covers.
    """

    id: str = Field(default_factory=new_id, alias="_id")
    contact_id: str
    started_at: datetime
    last_message_at: datetime
    turns: int = Field(0, description="turns answered in it (a turn: the messages one reply answers)")
    summary: str | None = None
    summarized_until: datetime | None = None
    summarized_count: int = 0


class KnowledgeChunk(Document):
    """A piece of one of the operator's documents, retrievable for a persona's prompts."""

    id: str = Field(default_factory=new_id, alias="_id")
    persona: str
    source: str = Field(description="the document's file name, as `kb list` shows it")
    document_id: str = Field(description="content hash of the whole document (re-adding it replaces its chunks)")
    position: int = Field(description="order of the chunk in its document")
    heading: str | None = None
    text: str
    embedding: list[float] | None = None
    embedding_model: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
