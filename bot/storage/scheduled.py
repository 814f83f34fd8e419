"""Scheduled messages: texts the operator wants sent at a given time (`run_bot.py schedule add`).

Each one is sent exactly once, even across a restart or a crash mid-send::

    pending --claim (due)--> sending --sent--> sent
       |                        +--> failed (WhatsApp refused it, or it was found too late: `error` says why)
       +--> cancelled (the operator)    +--> failed

The WhatsApp message id is chosen when the message is stored, before it is ever sent. Claiming is one guarded
update (pending -> sending), so two hands never send the same message. A message left `sending` by a run that
crashed or stopped mid-send may have gone out: it is sent with `maybe_sent`, which looks that id up in the chat
first and never sends it twice.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field
from pymongo import ASCENDING, ReturnDocument

from bot.storage.models import Document, utc_now


class ScheduledStatus(StrEnum):
    PENDING = "pending"  # waiting for its time
    SENDING = "sending"  # claimed by the daemon; may have gone out if the daemon died meanwhile
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


DONE = frozenset({ScheduledStatus.SENT, ScheduledStatus.CANCELLED, ScheduledStatus.FAILED})


def new_schedule_id() -> str:
    """Short enough to type in `schedule cancel ID`; a clash is refused by `_id` and is vanishingly rare."""
    return secrets.token_hex(4)


class ScheduledMessage(Document):
    id: str = Field(default_factory=new_schedule_id, alias="_id")
    to: str = Field(description="the chat id it goes to (15551234567@c.us)")
    text: str
    at: datetime = Field(description="when it is due (UTC)")
    status: ScheduledStatus = ScheduledStatus.PENDING
    message_id: str = Field(description="the WhatsApp message id chosen for it before it is ever sent")
    created_at: datetime = Field(default_factory=utc_now)
    claimed_at: datetime | None = Field(None, description="when the daemon took it up to send (last time)")
    attempts: int = Field(0, description="how many times it was taken up to send")
    sent_at: datetime | None = None
    wa_id: str | None = Field(None, description="WhatsApp's serialized id, once sent")
    error: str | None = None

    @property
    def phone(self) -> str:
        return self.to.split("@", 1)[0]


class ScheduledRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def add(self, message: ScheduledMessage) -> ScheduledMessage:
        await self._collection.insert_one(message.to_mongo())
        return message

    async def get(self, schedule_id: str) -> ScheduledMessage | None:
        raw = await self._collection.find_one({"_id": schedule_id})
        return ScheduledMessage.from_mongo(raw) if raw else None

    async def cancel(self, schedule_id: str) -> ScheduledMessage | None:
        """pending -> cancelled; None if it is not pending (unknown, being sent, or done)."""
        raw = await self._collection.find_one_and_update(
            {"_id": schedule_id, "status": ScheduledStatus.PENDING.value},
            {"$set": {"status": ScheduledStatus.CANCELLED.value}},
            return_document=ReturnDocument.AFTER,
        )
        return ScheduledMessage.from_mongo(raw) if raw else None

    async def claim_due(self, now: datetime) -> ScheduledMessage | None:
        """The oldest due pending message -> sending, atomically; None when nothing is due."""
        raw = await self._collection.find_one_and_update(
            {"status": ScheduledStatus.PENDING.value, "at": {"$lte": now}},
            {"$set": {"status": ScheduledStatus.SENDING.value, "claimed_at": now}, "$inc": {"attempts": 1}},
            sort=[("at", ASCENDING), ("_id", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return ScheduledMessage.from_mongo(raw) if raw else None

    async def sending(self) -> list[ScheduledMessage]:
        """Messages claimed to send and not finished: in flight, or left so by a run that died mid-send."""
        cursor = self._collection.find({"status": ScheduledStatus.SENDING.value}).sort("at", ASCENDING)
        return [ScheduledMessage.from_mongo(raw) async for raw in cursor]

    async def reclaim(self, schedule_id: str, now: datetime) -> ScheduledMessage | None:
        """Take up again a message left `sending` (counted as another attempt); None if it is not sending."""
        raw = await self._collection.find_one_and_update(
            {"_id": schedule_id, "status": ScheduledStatus.SENDING.value},
            {"$set": {"claimed_at": now}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return ScheduledMessage.from_mongo(raw) if raw else None

    async def mark_sent(self, schedule_id: str, *, wa_id: str) -> bool:
        """sending -> sent; False if it was not sending (cancelled or finished by another hand)."""
        return await self._finish(
            schedule_id, ScheduledStatus.SENT, {"wa_id": wa_id, "sent_at": utc_now(), "error": None}
        )

    async def mark_failed(self, schedule_id: str, *, error: str) -> bool:
        """pending / sending -> failed, with why."""
        return await self._finish(schedule_id, ScheduledStatus.FAILED, {"error": error})

    async def _finish(self, schedule_id: str, to: ScheduledStatus, fields: dict[str, Any]) -> bool:
        leaving = [ScheduledStatus.PENDING.value, ScheduledStatus.SENDING.value]
        result = await self._collection.update_one(
            {"_id": schedule_id, "status": {"$in": leaving}}, {"$set": {"status": to.value, **fields}}
        )
        return bool(result.modified_count)

    async def remove_done_before(self, cutoff: datetime) -> int:
        """Retention: delete messages that are done (sent, cancelled, failed) and were due before `cutoff`."""
        result = await self._collection.delete_many(
            {"status": {"$in": [status.value for status in DONE]}, "at": {"$lt": cutoff}}
        )
        return int(result.deleted_count)

    async def anonymise_done_before(self, cutoff: datetime) -> int:
        """Retention, anonymise mode: empty the text of done messages due before `cutoff`."""
        result = await self._collection.update_many(
            {"status": {"$in": [status.value for status in DONE]}, "at": {"$lt": cutoff}, "text": {"$ne": ""}},
            {"$set": {"text": ""}},
        )
        return int(result.modified_count)

    # Last in the class: a method named `list` hides the builtin in the annotations after it.
    async def list(self, *, include_done: bool = False) -> list[ScheduledMessage]:
        """By due time; without `include_done`, only those still to be sent (pending or sending)."""
        query = {} if include_done else {"status": {"$nin": [status.value for status in DONE]}}
        cursor = self._collection.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return [ScheduledMessage.from_mongo(raw) async for raw in cursor]
