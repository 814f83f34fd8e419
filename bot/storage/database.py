"""The MongoDB adapter: one client (real server or in-memory stand-in), its collections and their indexes."""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any

from loguru import logger
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError

from bot.errors import StartupError, StorageUnavailable
from bot.settings import MEMORY_URI, Settings
from bot.storage.contacts import ContactRepository
from bot.storage.knowledge import KnowledgeRepository
from bot.storage.leases import LeaseRepository
from bot.storage.messages import MessageRepository
from bot.storage.personas import PersonaRepository
from bot.storage.scheduled import ScheduledRepository
from bot.storage.threads import ThreadRepository

# What an unreachable or hung server raises (no server, a dropped connection, an operation past its deadline, a
# primary stepping down): the caller waits for the database to return. Any other PyMongoError is a bug or bad
# data, not an outage.
OUTAGE_ERRORS = (ConnectionFailure, ExecutionTimeout)

# Every read path the bot has, and the index that serves it. Contacts and personas are read by _id (or all).
INDEXES: dict[str, list[IndexModel]] = {
    "messages": [
        # Dedupe: WhatsApp may deliver the same message twice; outbound messages get their id only once sent.
        IndexModel([("wa_id", ASCENDING)], name="wa_id_unique", unique=True, sparse=True),
        # History for one contact, newest first.
        IndexModel([("contact_id", ASCENDING), ("created_at", DESCENDING)], name="contact_history"),
        # The reconciler's unfinished inbound messages, oldest first.
        IndexModel([("direction", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)], name="by_status"),
        # A message's stored reply (resuming it), and the messages a reply answers (its acks).
        IndexModel([("in_reply_to", ASCENDING)], name="reply_of", sparse=True),
        IndexModel([("reply_id", ASCENDING)], name="answered_by", sparse=True),
        # The bot's own messages by the id it chose (to tell its echo from the operator typing on the phone).
        IndexModel([("wa_key", ASCENDING)], name="by_wa_key", sparse=True),
        # The messages of one turn (taken together, answered by one reply).
        IndexModel([("turn", ASCENDING)], name="by_turn", sparse=True),
    ],
    "threads": [
        # A contact's threads, newest first (the current one, and the summaries of the ones before).
        IndexModel([("contact_id", ASCENDING), ("last_message_at", DESCENDING)], name="contact_threads"),
    ],
    "knowledge": [
        # A persona's chunks (retrieval reads them all), in document order; a document's chunks (replace, remove).
        IndexModel([("persona", ASCENDING), ("source", ASCENDING), ("position", ASCENDING)], name="persona_chunks"),
        IndexModel([("document_id", ASCENDING)], name="by_document"),
    ],
    "scheduled": [
        # Due messages, oldest first (claiming), and the ones left `sending`. No TTL index: retention deletes
        # explicitly (bot/ops/retention.py), which also works on the in-memory store and can anonymise instead.
        IndexModel([("status", ASCENDING), ("at", ASCENDING)], name="due"),
    ],
}


class Database:
    """Owns the client and hands out one repository per collection. Close it last on shutdown."""

    def __init__(self, client: Any, name: str, *, in_memory: bool) -> None:
        self._client = client
        self._db = client[name]
        self.in_memory = in_memory

    @classmethod
    async def connect(cls, uri: str, name: str, *, timeout_s: float = 5.0) -> Database:
        """Open the database and prove it answers, so a wrong URI fails at start-up rather than on a message."""
        if uri.startswith(MEMORY_URI):
            from pymongo_async_mock import AsyncMongoMockClient

            logger.warning("MONGODB_URI=memory://: using the in-memory store, NOTHING IS PERSISTED across restarts")
            return cls(AsyncMongoMockClient(tz_aware=True), name, in_memory=True)
        # timeoutMS bounds every operation, not only finding a server: a server that hangs (paused, a network
        # path lost without a reset) must become an outage, not a daemon waiting forever.
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=int(timeout_s * 1000),
            timeoutMS=int(timeout_s * 1000),
            appname="whatsapp-bot",
        )
        try:
            await client.admin.command("ping")
        except PyMongoError as error:
            await client.close()
            # The first line names the host and the cause; the rest is a topology dump.
            reason = str(error).splitlines()[0][:300]
            raise StorageUnavailable(f"MongoDB is unreachable at the configured MONGODB_URI: {reason}") from error
        return cls(client, name, in_memory=False)

    @classmethod
    async def from_settings(cls, settings: Settings) -> Database:
        if settings.mongodb_uri is None:
            raise StartupError("MONGODB_URI is not set (use mongodb://... or memory:// for a throwaway store)")
        return await cls.connect(settings.mongodb_uri, settings.mongodb_database, timeout_s=settings.mongodb_timeout_s)

    @property
    def name(self) -> str:
        return str(self._db.name)

    @property
    def raw(self) -> Any:
        """The pymongo database under the repositories, for what works on documents whole, whatever their model
        (backups, GridFS). Everything else goes through a repository."""
        return self._db

    @cached_property
    def contacts(self) -> ContactRepository:
        return ContactRepository(self._db["contacts"])

    @cached_property
    def messages(self) -> MessageRepository:
        return MessageRepository(self._db["messages"])

    @cached_property
    def personas(self) -> PersonaRepository:
        return PersonaRepository(self._db["personas"])

    @cached_property
    def threads(self) -> ThreadRepository:
        return ThreadRepository(self._db["threads"])

    @cached_property
    def knowledge(self) -> KnowledgeRepository:
        return KnowledgeRepository(self._db["knowledge"])

    @cached_property
    def scheduled(self) -> ScheduledRepository:
        return ScheduledRepository(self._db["scheduled"])

    @cached_property
    def leases(self) -> LeaseRepository:
        """One lease per account: which daemon drives it (bot/ops/lease.py); read by _id only."""
        return LeaseRepository(self._db["leases"])

    async def ping(self) -> None:
        """Raises one of OUTAGE_ERRORS if the server does not answer."""
        await self._client.admin.command("ping")

    async def ensure_indexes(self) -> None:
        for collection, indexes in INDEXES.items():
            await self._db[collection].create_indexes(indexes)

    async def index_names(self, collection: str) -> set[str]:
        return {index["name"] async for index in await self._db[collection].list_indexes()}

    async def drop(self) -> None:
        """Delete the whole database (tests and tools only)."""
        await self._client.drop_database(self.name)

    async def close(self) -> None:
        result = self._client.close()
        if inspect.isawaitable(result):  # AsyncMongoClient.close is a coroutine; the stand-in's is not
            await result
