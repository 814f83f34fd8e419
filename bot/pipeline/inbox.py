"""The inbox: every incoming message is stored first, duplicates are dropped, the rest queued per contact."""

from __future__ import annotations

from loguru import logger

from bot.pipeline.queues import KeyedWorkQueue
from bot.storage import Database, Message
from bot.whatsapp.events import IncomingMessage


class Inbox:
    def __init__(self, db: Database, queue: KeyedWorkQueue[Message]) -> None:
        self._db = db
        self._queue = queue

    async def receive(self, incoming: IncomingMessage) -> Message | None:
        """Store, then queue for an answer. Returns the stored message, or None for a duplicate."""
        stored = await self._db.messages.add_inbound(
            wa_id=incoming.wa_id, contact_id=incoming.chat_id, text=incoming.text, wa_time=incoming.sent_at
        )
        if stored is None:
            logger.debug("dropped duplicate message {}", incoming.wa_id)
            return None
        await self._db.contacts.seen(incoming.chat_id, phone=incoming.phone, push_name=incoming.push_name)
        logger.info("message {} from {} stored", stored.id, incoming.chat_id)
        self._queue.put(incoming.chat_id, stored)
        return stored
