"""The inbox: every incoming message is stored first, duplicates are dropped, the rest queued per contact.

While MongoDB is unreachable, incoming messages wait in a bounded buffer in memory and are written when it
returns. Nothing is acknowledged to the contact meanwhile (no read receipt), so a message that does not fit in
the buffer, or one lost with the process, is still unread on WhatsApp and is read back from there.

The account's own "message yourself" chat is the operator's console: an own message there that starts with "/"
is a command, run and answered in that chat; nothing else there (alerts, the answers coming back, notes to self)
is stored, answered or taken for the operator taking a chat over.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from loguru import logger

from bot.ops.metrics import Metrics
from bot.ops.tasks import TaskSet
from bot.pipeline.policy import TAKEOVER_REASON, AnswerRules, takeover_until
from bot.pipeline.queues import KeyedWorkQueue
from bot.pipeline.traffic import Traffic
from bot.storage import Database, Message, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth
from bot.whatsapp.events import IncomingMessage, new_message_id

# A command's answer goes out once connected; past this it is given up (the operator can ask again).
COMMAND_ANSWER_TIMEOUT_S = 120.0
COMMAND_PREFIX = "/"


class Commands(Protocol):
    async def run(self, text: str) -> str:
        """The answer to one operator command; never raises for what the operator typed."""
        ...


class TextSender(Protocol):
    async def send_text(self, chat_id: str, text: str, *, message_id: str) -> str: ...


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
        commands: Commands | None = None,
        chat: TextSender | None = None,
        default_persona: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`commands` and `chat`: the operator's commands and where their answers are sent; None: ignored.
        `default_persona`: given to a contact on their first message."""
        self._db = db
        self._metrics = metrics
        self._default_persona = default_persona
        self._queue = queue
        self._health = health
        self._traffic = traffic
        self._rules = rules  # for the operator taking a chat over; None: never
        self._commands = commands
        self._chat = chat
        self._answers = TaskSet()  # command answers, each waiting for the connection
        self._waiting: deque[IncomingMessage] = deque()
        self._buffer_size = buffer_size
        self._overflowed = False
        self.left_unread = 0  # messages that found the buffer full: WhatsApp keeps them unread for a catch-up

    @property
    def buffered(self) -> int:
        """Messages waiting in memory for the database."""
        return len(self._waiting)

    async def receive(self, incoming: IncomingMessage) -> Message | None:
        """Store, then queue for an answer. Returns the stored message; None for a duplicate, when buffered, and
        for own messages and the self chat."""
        if incoming.to_self:
            await self._self_chat(incoming)
            return None
        if incoming.from_me:
            await self._own_message(incoming)
            return None
        if self._metrics is not None:
            self._metrics.received()
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
        if self._metrics is not None:
            self._metrics.stored(incoming.sent_at)
        # Tags this message's log lines. The put stays outside: the contact's worker task it may start would
        # inherit the tag.
        with logger.contextualize(msg_id=stored.id, wa_id=incoming.wa_id, contact=incoming.chat_id):
            logger.info("message {} from {} stored", stored.id, incoming.chat_id)
            if self._traffic is not None:
                self._traffic.arrived(incoming.chat_id)
            # The contact first, so the answer knows their name. If this write fails the message is stored but
            # not queued: the reconciler queues it when the database is back.
            contact = await self._db.contacts.seen(
                incoming.chat_id,
                phone=incoming.phone,
                push_name=None if incoming.is_group else incoming.push_name,
                persona=self._default_persona,
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

    async def _self_chat(self, incoming: IncomingMessage) -> None:
        # Only the account writes here (a contact's "/pause" is an ordinary message in their own chat). The
        # bot's answers never start with "/", so they come back as nothing to do.
        if not incoming.from_me or not incoming.text.lstrip().startswith(COMMAND_PREFIX):
            return
        if self._commands is None or self._chat is None:
            logger.info("an operator command arrived but commands are not set up; ignored")
            return
        command = incoming.text.strip()
        logger.info("operator command: {}", command.split(maxsplit=1)[0])
        # Run here, in arrival order ("/pause" then "/resume" must not swap); only the answer, which waits for
        # the connection, goes out beside the event stream.
        answer = await self._commands.run(command)
        self._answers.spawn(self._answer(incoming.chat_id, answer), name="ops:command-answer")

    async def _answer(self, chat_id: str, answer: str) -> None:
        assert self._chat is not None
        try:
            async with asyncio.timeout(COMMAND_ANSWER_TIMEOUT_S):
                await self._chat.send_text(chat_id, answer, message_id=new_message_id())
        except Exception as error:  # an answer lost is logged; the command itself has run
            logger.warning("could not answer the operator's command in the self chat: {!r}", error)

    async def close(self) -> None:
        """Give up the command answers still waiting to go out."""
        await self._answers.cancel()

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
