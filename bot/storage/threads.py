"""Threads: a contact's conversations, split by idle gaps, each with the model's summary of its older turns."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument

from bot.storage.models import Thread


class ThreadRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def get(self, thread_id: str) -> Thread | None:
        raw = await self._collection.find_one({"_id": thread_id})
        return Thread.from_mongo(raw) if raw else None

    async def latest(self, contact_id: str) -> Thread | None:
        raw = await self._collection.find_one({"contact_id": contact_id}, sort=[("last_message_at", DESCENDING)])
        return Thread.from_mongo(raw) if raw else None

    async def current(self, contact_id: str, at: datetime, idle_gap: timedelta) -> tuple[Thread, Thread | None]:
        """The contact's thread for a turn whose first message came `at`, counting the turn; and the thread that
        ended, when this turn starts a new one after `idle_gap` of silence (None for a contact's first thread)."""
        # One round trip while the conversation goes on: the newest thread is the only one that can be this recent.
        raw = await self._collection.find_one_and_update(
            {"contact_id": contact_id, "last_message_at": {"$gte": at - idle_gap}},
            {"$max": {"last_message_at": at}, "$inc": {"turns": 1}},
            sort=[("last_message_at", DESCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if raw is not None:
            return Thread.from_mongo(raw), None
        latest = await self.latest(contact_id)
        thread = Thread(contact_id=contact_id, started_at=at, last_message_at=at, turns=1)
        await self._collection.insert_one(thread.to_mongo())
        return thread, latest

    async def earlier(self, contact_id: str, before: datetime, limit: int) -> list[Thread]:
        """The contact's threads that ended before `before`, with a summary, newest first."""
        cursor = (
            self._collection.find(
                {"contact_id": contact_id, "last_message_at": {"$lt": before}, "summary": {"$ne": None}}
            )
            .sort("last_message_at", DESCENDING)
            .limit(limit)
        )
        return [Thread.from_mongo(raw) async for raw in cursor]

    async def summarized(self, thread_id: str, summary: str, *, until: datetime, count: int) -> None:
        """Store a new rolling summary, unless one covering later messages was stored meanwhile."""
        await self._collection.update_one(
            {"_id": thread_id, "$or": [{"summarized_until": None}, {"summarized_until": {"$lt": until}}]},
            {"$set": {"summary": summary, "summarized_until": until, "summarized_count": count}},
        )

    async def forget(self, contact_id: str) -> int:
        """Delete every thread of the contact (and so their summaries); returns how many."""
        result = await self._collection.delete_many({"contact_id": contact_id})
        return int(result.deleted_count)

    async def remove_ended_before(self, cutoff: datetime) -> int:
        """Retention: delete threads whose last message is older than `cutoff`; returns how many."""
        result = await self._collection.delete_many({"last_message_at": {"$lt": cutoff}})
        return int(result.deleted_count)

    async def forget_summaries_before(self, cutoff: datetime) -> int:
        """Retention, anonymise mode: drop the summaries (the contact's words, retold) of threads that ended
        before `cutoff`; returns how many."""
        result = await self._collection.update_many(
            {"last_message_at": {"$lt": cutoff}, "summary": {"$ne": None}},
            {"$set": {"summary": None}},  # summarized_until stays: those turns are not folded in again
        )
        return int(result.modified_count)
