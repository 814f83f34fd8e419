"""Contacts: who writes to the operator, what the operator has told the bot about them, and whether the bot may
answer them now (blocked, auto-reply, paused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from bot.storage.models import Contact, utc_now


class ContactRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, contact_id: str) -> Contact | None:
        raw = await self._collection.find_one({"_id": contact_id})
        return Contact.from_mongo(raw) if raw else None

    async def priorities(self, contact_ids: list[str]) -> dict[str, int]:
        """The priority of each of these contacts that has one other than the default."""
        cursor = self._collection.find({"_id": {"$in": contact_ids}, "priority": {"$exists": True, "$ne": 0}})
        return {raw["_id"]: int(raw["priority"]) async for raw in cursor}

    async def seen(self, contact_id: str, *, phone: str, push_name: str | None) -> Contact:
        """Record that the contact wrote; creates them on first contact and keeps their WhatsApp name fresh."""
        now = utc_now()
        update: dict[str, Any] = {
            "$setOnInsert": {"phone": phone, "created_at": now},
            "$set": {"updated_at": now},
        }
        if push_name:
            update["$set"]["push_name"] = push_name
        raw = await self._collection.find_one_and_update(
            {"_id": contact_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        return Contact.from_mongo(raw)

    async def save(self, contact: Contact) -> None:
        """Write the whole contact (the operator's edits: name, relationship, notes, persona)."""
        contact.updated_at = utc_now()
        await self._collection.replace_one({"_id": contact.id}, contact.to_mongo(), upsert=True)

    async def pause(self, contact_id: str, until: datetime, reason: str) -> Contact:
        """Leave the contact alone until `until` (the operator took over, a flood); creates them if unknown.

        A pause only moves later: a shorter one (a flood pause while the operator has the chat) keeps the longer
        one and its reason. `unpause` ends any.
        """
        if until.tzinfo is None:
            raise ValueError("pause until an aware datetime (UTC), not a naive one")
        now = utc_now()
        sooner = {"$or": [{"paused_until": None}, {"paused_until": {"$lt": until}}]}
        update = {
            "$set": {"paused_until": until, "pause_reason": reason, "updated_at": now},
            "$setOnInsert": {"phone": _phone_of(contact_id), "created_at": now},
        }
        try:
            raw = await self._collection.find_one_and_update(
                {"_id": contact_id, **sooner}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            # The contact exists and is already paused until later: the upsert found no match to update.
            raw = await self._collection.find_one({"_id": contact_id})
        return Contact.from_mongo(raw)

    async def unpause(self, contact_id: str) -> Contact | None:
        """End a pause now; None for an unknown contact."""
        raw = await self._collection.find_one_and_update(
            {"_id": contact_id},
            {"$unset": {"paused_until": "", "pause_reason": ""}, "$set": {"updated_at": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
        return Contact.from_mongo(raw) if raw else None

    async def set_flags(
        self,
        contact_id: str,
        *,
        blocked: bool | None = None,
        auto_reply: bool | None = None,
        priority: int | None = None,
    ) -> Contact:
        """Change who the bot answers (the operator's tools); flags left None are kept. Creates unknown contacts,
        so a number can be blocked before it ever writes."""
        now = utc_now()
        changes: dict[str, Any] = {"updated_at": now}
        for name, value in (("blocked", blocked), ("auto_reply", auto_reply), ("priority", priority)):
            if value is not None:
                changes[name] = value
        raw = await self._collection.find_one_and_update(
            {"_id": contact_id},
            {"$set": changes, "$setOnInsert": {"phone": _phone_of(contact_id), "created_at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Contact.from_mongo(raw)


def _phone_of(contact_id: str) -> str:
    """The number in a chat id (15551234567@c.us -> 15551234567), for contacts created before they wrote."""
    return contact_id.partition("@")[0]
