"""The inbox: every incoming message is stored first, duplicates are dropped, the rest queued per contact.

While MongoDB is unreachable, incoming messages wait in a bounded buffer in memory and are written when it
returns. Nothing is acknowledged to the contact meanwhile (no read receipt), so a message that does not fit in
the buffer, or one lost with the process, is still unread on WhatsApp and is read back from there.
"""

from __future__ import annotations

from collections import deque

from loguru import logger

from bot.pipeline.policy import TAKEOVER_REASON, AnswerRules, takeover_until
from bot.pipeline.queues import KeyedWorkQueue
from bot.pipeline.traffic import Traffic
from bot.storage import Database, Message, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth
from bot.whatsapp.events import IncomingMessage


class Inbox:
    def __init__(
        self,
        db: Database,
        queue: KeyedWorkQueue[str],
        health: StorageHealth,
        *,
        buffer_size: int = 1000,
        traffic: Traffic | None = None,
        rules: AnswerRules | None = None,
    ) -> None:
        self._db = db
        self._queue = queue
        self._health = health
        self._traffic = traffic
        self._rules = rules  # for the operator taking a chat over; None: never
        self._waiting: deque[IncomingMessage] = deque()
        self._buffer_size = buffer_size
        self._overflowed = False
        self.left_unread = 0  # messages that found the buffer full: WhatsApp keeps them unread for a catch-up

    @property
    def buffered(self) -> int:
        """Messages waiting in memory for the database."""
        return len(self._waiting)

    async def receive(self, incoming: IncomingMessage) -> Message | None:
        """Store, then queue for an answer. Returns the stored message; None for a duplicate or when buffered."""
        if incoming.from_me:
            await self._own_message(incoming)
            return None
        if not self._health.up or self._waiting:
            self._buffer(incoming)  # behind the ones already waiting, to keep each contact's order
            return None
        try:
            return await self._store(incoming)
        except OUTAGE_ERRORS as error:
            self._health.failed(error)
            self._buffer(incoming)
            return None

    async def _store(self, incoming: IncomingMessage) -> Message | None:
        stored = await self._db.messages.add_inbound(
            wa_id=incoming.wa_id,
            contact_id=incoming.chat_id,
            text=incoming.text,
            kind=incoming.kind,
            wa_time=incoming.sent_at,
            is_group=incoming.is_group,
            author=incoming.author,
            mentions_me=incoming.mentions_me,
        )
        if stored is None:
            logger.debug("dropped duplicate message {}", incoming.wa_id)
            return None
        logger.info("message {} from {} stored", stored.id, incoming.chat_id)
        if self._traffic is not None:
            self._traffic.arrived(incoming.chat_id)
        # The contact first, so the answer knows their name. If this write fails the message is stored but
        # not queued: the reconciler queues it when the database is back.
        contact = await self._db.contacts.seen(
            incoming.chat_id, phone=incoming.phone, push_name=None if incoming.is_group else incoming.push_name
        )
        self._queue.put(incoming.chat_id, incoming.chat_id, priority=contact.priority)
        return stored

    async def _own_message(self, incoming: IncomingMessage) -> None:
        """An own message: the bot's reply coming back, or the operator typing on the phone, who then takes the
        chat over: the bot leaves that contact alone for a while (a database error only costs the pause)."""
        until = takeover_until(self._rules, utc_now()) if self._rules is not None else None
        if until is None or not self._health.up:
            return
        try:
            if await self._db.messages.sent_by_bot(incoming.wa_id):
                return
            await self._db.contacts.pause(incoming.chat_id, until, TAKEOVER_REASON)
        except OUTAGE_ERRORS as error:
            self._health.failed(error)
            return
        logger.info(
            "the operator wrote to {} from the phone; the bot leaves them alone until {:%H:%M}", incoming.chat_id, until
        )

    def _buffer(self, incoming: IncomingMessage) -> None:
        if len(self._waiting) < self._buffer_size:
            self._waiting.append(incoming)
            return
        self.left_unread += 1
        if not self._overflowed:
            self._overflowed = True
            logger.warning(
                "{} messages wait for the database, the most it keeps in memory; later ones stay unread on "
                "WhatsApp and are read back from there when it returns",
                self._buffer_size,
            )

    async def flush(self) -> int:
        """Write what waited for the database, in arrival order; returns how many were written."""
        written = 0
        while self._waiting:
            incoming = self._waiting[0]
            try:
                await self._store(incoming)
            except OUTAGE_ERRORS as error:
                self._health.failed(error)
                break
            self._waiting.popleft()
            written += 1
        if not self._waiting:
            self._overflowed = False
        if written:
            logger.info("{} message(s) that waited for the database are stored", written)
        return written
