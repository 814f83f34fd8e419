"""Contacts: who writes to the operator, and what the operator has told the bot about them."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument

from bot.storage.models import Contact, utc_now


class ContactRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, contact_id: str) -> Contact | None:
        raw = await self._collection.find_one({"_id": contact_id})
        return Contact.from_mongo(raw) if raw else None

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
