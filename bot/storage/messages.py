"""Messages: every inbound message is stored before anything else happens to it; replies link back to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from bot.storage.models import Direction, Message, MessageStatus, utc_now


class MessageRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, message_id: str) -> Message | None:
        raw = await self._collection.find_one({"_id": message_id})
        return Message.from_mongo(raw) if raw else None

    async def add_inbound(self, *, wa_id: str, contact_id: str, text: str, wa_time: datetime) -> Message | None:
        """Store a received message; returns None when WhatsApp delivered this id before (a duplicate)."""
        message = Message(
            wa_id=wa_id,
            contact_id=contact_id,
            direction=Direction.INBOUND,
            status=MessageStatus.RECEIVED,
            text=text,
            wa_time=wa_time,
        )
        try:
            await self._collection.insert_one(message.to_mongo())
        except DuplicateKeyError:
            return None
        return message

    async def add_reply(self, *, contact_id: str, text: str, in_reply_to: str | None) -> Message:
        """Store a reply before it is sent, so a crash between the two leaves a visible `pending` record."""
        message = Message(
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            status=MessageStatus.PENDING,
            text=text,
            in_reply_to=in_reply_to,
        )
        await self._collection.insert_one(message.to_mongo())
        return message

    async def mark_sent(self, message_id: str, *, wa_id: str) -> None:
        await self._collection.update_one(
            {"_id": message_id},
            {"$set": {"status": MessageStatus.SENT.value, "wa_id": wa_id, "sent_at": utc_now()}},
        )

    async def mark_failed(self, message_id: str, *, error: str) -> None:
        await self._collection.update_one(
            {"_id": message_id}, {"$set": {"status": MessageStatus.FAILED.value, "error": error}}
        )

    async def mark_replied(self, message_id: str, *, reply_id: str) -> None:
        await self._collection.update_one(
            {"_id": message_id}, {"$set": {"status": MessageStatus.REPLIED.value, "reply_id": reply_id}}
        )

    async def history(self, current: Message, *, limit: int) -> list[Message]:
        """What was said in this contact's chat before `current`, oldest first, at most `limit` messages.

        Inbound messages that arrived after `current` are left out (they are answered later, in turn), but
        every reply sent so far is in, even one stored after `current` arrived: the contact has seen it.
        """
        if limit <= 0:
            return []
        query = {
            "contact_id": current.contact_id,
            "_id": {"$ne": current.id},
            "$or": [{"direction": Direction.OUTBOUND.value}, {"created_at": {"$lt": current.created_at}}],
        }
        cursor = self._collection.find(query).sort("created_at", DESCENDING).limit(limit)
        newest_first = [Message.from_mongo(raw) async for raw in cursor]
        return newest_first[::-1]

    async def for_contact(self, contact_id: str) -> list[Message]:
        """Every message of one contact, oldest first (for tools and tests; not used per message)."""
        cursor = self._collection.find({"contact_id": contact_id}).sort("created_at", 1)
        return [Message.from_mongo(raw) async for raw in cursor]
