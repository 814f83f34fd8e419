"""Contacts: who writes to the operator, what the operator has told the bot about them, and whether the bot may
answer them now (blocked, auto-reply, paused)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from bot.storage.models import Contact, ContactStyle, Relationship, utc_now

LID_SUFFIX = "@lid"
# What the operator sets (tools, imports); everything else is the bot's (counters, style, pauses, WhatsApp name).
OPERATOR_FIELDS = (
    "name",
    "relationship",
    "persona",
    "tags",
    "priority",
    "auto_reply",
    "blocked",
    "notes",
    "instructions",
)
NOTE_ATTEMPTS = 5


class ImportCounts(NamedTuple):
    created: int
    updated: int


def normalize_number(text: str) -> str:
    """A phone number as chat ids write it (digits, country code first): '+1 (555) 123-4567' -> '15551234567'.

    Raises ValueError for anything else.
    """
    digits = text.strip().removeprefix("+")
    for separator in " ()-.":
        digits = digits.replace(separator, "")
    if not digits.isascii() or not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise ValueError(f"expected a phone number with country code, e.g. +15551234567, got {text.strip()!r}")
    return digits


def chat_id_of(number: str) -> str:
    """The chat id of a personal chat with this number (digits)."""
    return f"{number}@c.us"


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

    async def seen(self, contact_id: str, *, phone: str, push_name: str | None, persona: str | None = None) -> Contact:
        """Record that the contact wrote: creates them on first contact (with `persona`, the default one, when
        given), counts the message and keeps their WhatsApp name fresh."""
        now = utc_now()
        on_insert: dict[str, Any] = {"phone": phone, "created_at": now}
        if persona is not None:
            on_insert["persona"] = persona
        changes: dict[str, Any] = {"updated_at": now, "last_message_at": now}
        if push_name:
            changes["push_name"] = push_name
        if contact_id.endswith(LID_SUFFIX):
            changes["lid"] = contact_id
        raw = await self._collection.find_one_and_update(
            {"_id": contact_id},
            {"$setOnInsert": on_insert, "$set": changes, "$inc": {"message_count": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Contact.from_mongo(raw)

    async def list(self, *, tag: str | None = None, relationship: Relationship | str | None = None) -> list[Contact]:
        """Every contact (with this tag, of this relationship), by chat id."""
        query: dict[str, Any] = {}
        if tag is not None:
            query["tags"] = tag
        if relationship is not None:
            query["relationship"] = Relationship(relationship).value
        return [Contact.from_mongo(raw) async for raw in self._collection.find(query).sort("_id", 1)]

    async def find(self, number_or_id: str) -> Contact | None:
        """The contact with this number (+15551234567, 15551234567, +1 555-123-4567) or chat id (…@c.us, …@lid)."""
        text = number_or_id.strip()
        if "@" in text:
            raw = await self._collection.find_one({"$or": [{"_id": text}, {"lid": text}]})
            return Contact.from_mongo(raw) if raw else None
        try:
            number = normalize_number(text)
        except ValueError:
            return None
        raw = await self._collection.find_one({"_id": chat_id_of(number)})
        if raw is None:
            raw = await self._collection.find_one({"phone": number})
        return Contact.from_mongo(raw) if raw else None

    async def update(self, contact_id: str, **fields: Any) -> Contact:
        """The operator's edit of some fields (None clears one), validated through the model; creates unknown
        contacts, so a number can be described before it ever writes. Only these fields are written, so counters
        the daemon moves meanwhile are kept."""
        unknown = sorted(set(fields) - set(OPERATOR_FIELDS))
        if unknown:
            raise ValueError(f"not an operator's field of a contact: {', '.join(unknown)}")
        current = await self.get(contact_id) or Contact(id=contact_id, phone=_phone_of(contact_id))
        edited = Contact.model_validate({**current.model_dump(), **fields})
        raw = await self._collection.find_one_and_update(
            {"_id": contact_id},
            _operator_update(edited, set(fields)),
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Contact.from_mongo(raw)

    async def import_many(self, contacts: Iterable[Contact]) -> ImportCounts:
        """Create or update each contact with the operator's fields it was given (`model_fields_set`); what the
        bot keeps about existing contacts (counters, learned style, pauses, WhatsApp name) is left alone."""
        created = updated = 0
        for contact in contacts:
            fields = contact.model_fields_set & set(OPERATOR_FIELDS)
            result = await self._collection.update_one(
                {"_id": contact.id}, _operator_update(contact, fields), upsert=True
            )
            if result.upserted_id is not None:
                created += 1
            else:
                updated += 1
        return ImportCounts(created=created, updated=updated)

    async def remove(self, contact_id: str) -> bool:
        """Delete the contact; whether there was one."""
        result = await self._collection.delete_one({"_id": contact_id})
        return bool(result.deleted_count)

    async def set_style(self, contact_id: str, style: ContactStyle) -> None:
        """Store what was learned of how the contact writes (a contact that was forgotten meanwhile stays gone)."""
        await self._collection.update_one({"_id": contact_id}, {"$set": {"style": style.model_dump()}})

    async def add_note(self, contact_id: str, text: str) -> Contact:
        """Append a line to the operator's notes about the contact (created if unknown)."""
        line = text.strip()
        if not line:
            raise ValueError("an empty note")
        for _ in range(NOTE_ATTEMPTS):
            current = await self.get(contact_id)
            before = current.notes if current else None
            notes = f"{before}\n{line}" if before else line
            # Guarded by the notes read, so two notes written at once both end up there.
            try:
                raw = await self._collection.find_one_and_update(
                    {"_id": contact_id, "notes": before},
                    {
                        "$set": {"notes": notes, "updated_at": utc_now()},
                        "$setOnInsert": {"phone": _phone_of(contact_id), "created_at": utc_now()},
                    },
                    upsert=current is None,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue  # created meanwhile: read it again
            if raw is not None:
                return Contact.from_mongo(raw)
        raise RuntimeError(f"the notes of {contact_id} kept changing while a note was added")

    async def set_persona(self, contact_id: str, name: str | None) -> Contact:
        """Answer the contact as this persona (None: the default one); creates unknown contacts."""
        return await self.update(contact_id, persona=name)

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


def _operator_update(contact: Contact, fields: set[str]) -> dict[str, Any]:
    """The update that writes these operator's fields of the contact (None ones are removed), creating it."""
    now = utc_now()
    values = contact.model_dump(include=fields)
    update: dict[str, Any] = {
        "$set": {name: _stored(value) for name, value in values.items() if value is not None} | {"updated_at": now},
        "$setOnInsert": {"phone": contact.phone, "created_at": now},
    }
    unset = {name: "" for name, value in values.items() if value is None}
    if unset:
        update["$unset"] = unset
    return update


def _stored(value: Any) -> Any:
    # Enums are stored as their text, as the documents the model writes store them.
    return value.value if isinstance(value, Relationship) else value


def _phone_of(contact_id: str) -> str:
    """The number in a chat id (15551234567@c.us -> 15551234567), for contacts created before they wrote."""
    return contact_id.partition("@")[0]
