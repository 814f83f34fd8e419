"""The conversation worker: takes one stored inbound message (by id) through its life to a sent reply.

It works from the message's stored state, not from what the queue says, so the same code answers a new
message and resumes one cut short by a crash, a stop or a database outage (see bot/storage/messages.py for
the states). Every way it can end leaves a stored state and one log line with the message's id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from loguru import logger

from bot.ai import Reply, Responder, build_prompt
from bot.errors import WhatsAppError
from bot.pipeline.outbox import Outbox
from bot.pipeline.protocols import ChatActions
from bot.storage import Contact, Database, Message, MessageStatus, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth

StaleHandler = Callable[[Message], None]


def why_not_answer(message: Message) -> str | None:
    """The reason a message is not answered, or None to answer it."""
    if message.kind != "chat":
        return f"not a text message ({message.kind}); left unread for the operator"
    if not message.text.strip():
        return "empty text"
    return None


class ConversationWorker:
    def __init__(
        self,
        db: Database,
        responder: Responder,
        outbox: Outbox,
        chat: ChatActions,
        *,
        default_persona: str,
        history_limit: int,
        max_age: timedelta,
        health: StorageHealth | None = None,
        on_stale: StaleHandler | None = None,
    ) -> None:
        self._db = db
        self._responder = responder
        self._outbox = outbox
        self._chat = chat
        self._default_persona = default_persona
        self._history_limit = history_limit
        self._max_age = max_age
        self._health = health
        self._on_stale = on_stale

    async def __call__(self, message_id: str) -> None:
        try:
            await self._handle(message_id)
        except OUTAGE_ERRORS as error:
            # Nothing went out that is not recorded; the message resumes from its stored state once the
            # database is back (the reconciler puts it in the queue again).
            if self._health is not None:
                self._health.failed(error)
            logger.warning("message {}: waits for the database ({})", message_id, type(error).__name__)
        except Exception as error:
            logger.exception("message {}: answering failed", message_id)
            await self._record_failure(message_id, error)

    async def _handle(self, message_id: str) -> None:
        message = await self._db.messages.take(message_id)
        if message is None:
            message = await self._db.messages.get(message_id)
            if message is None or message.status is not MessageStatus.REPLY_PENDING:
                return  # settled already (answered, skipped...): a repeated queue entry
        if (reply := await self._db.messages.stored_reply(message)) is not None:
            await self._resume(message, reply)
            return
        if self._too_old(message):
            await self._go_stale(message)
            return
        if (reason := why_not_answer(message)) is not None:
            await self._db.messages.skip(message.id, reason=reason)
            logger.info("message {}: not answered: {}", message.id, reason)
            return
        await self._answer(message)

    async def _answer(self, message: Message) -> None:
        contact = await self._db.contacts.get(message.contact_id) or Contact(
            id=message.contact_id, phone=message.contact_id.partition("@")[0]
        )
        # "typing..." goes out while the model thinks; leaving the group waits for it, so it is never shown
        # after the reply.
        async with asyncio.TaskGroup() as group:
            group.create_task(self._show_typing(contact.id), name=f"pipeline:{contact.id}:typing")
            reply = await self._generate(message, contact)
        stored = await self._outbox.store(message, reply)
        if await self._outbox.send(message, stored):
            await self._answered(message, fallback=reply.is_fallback, latency_s=reply.latency_s)

    async def _resume(self, message: Message, reply: Message) -> None:
        """The reply was stored before a crash, a stop or an outage: it may have gone out. Never send it twice,
        nor late."""
        if reply.wa_id is not None:  # recorded as sent; the message itself was not
            await self._db.messages.record_sent(message, reply, wa_id=reply.wa_id)
            await self._answered(message, fallback=reply.fallback)
            return
        if self._too_old(message):
            if await self._outbox.find(message, reply):
                logger.info("message {}: its reply had gone out before the restart", message.id)
                await self._answered(message, fallback=reply.fallback)
            else:
                await self._go_stale(message)
            return
        if await self._outbox.send(message, reply, maybe_sent=True):
            await self._answered(message, fallback=reply.fallback)

    async def _answered(self, message: Message, *, fallback: bool, latency_s: float | None = None) -> None:
        # Read last, and only up to what was answered: a message that is never answered (crash, outage) stays
        # unread on WhatsApp, where the next start finds it again; the operator's phone does not show it as seen.
        if message.wa_id:
            await self._courtesy(
                self._chat.mark_read(message.contact_id, answered=message.wa_id), "mark as read", message.contact_id
            )
        took = f" in {latency_s:.2f} s" if latency_s is not None else " (resumed)"
        how = " by fallback" if fallback else ""
        logger.info("message {}: answered {}{}{}", message.id, message.contact_id, took, how)

    def _too_old(self, message: Message) -> bool:
        written = message.wa_time or message.created_at
        return utc_now() - written > self._max_age

    async def _go_stale(self, message: Message) -> None:
        hours = self._max_age.total_seconds() / 3600
        if await self._db.messages.go_stale(message.id, reason=f"older than {hours:g} h when the bot got to it"):
            logger.warning(
                "message {}: from {} too old to answer (stale); left for the operator", message.id, message.contact_id
            )
            if self._on_stale is not None:
                self._on_stale(message)

    async def _generate(self, message: Message, contact: Contact) -> Reply:
        persona = await self._db.personas.get_or_builtin(contact.persona or self._default_persona)
        history = await self._db.messages.history(message, limit=self._history_limit)
        return await self._responder.reply(build_prompt(persona, contact, history, message))

    async def _record_failure(self, message_id: str, error: Exception) -> None:
        try:
            await self._db.messages.fail(message_id, error=f"{type(error).__name__}: {error}")
        except OUTAGE_ERRORS:
            logger.warning("message {}: its failure could not be recorded (database unreachable)", message_id)

    async def _show_typing(self, chat_id: str) -> None:
        await self._courtesy(self._chat.set_typing(chat_id), "show typing", chat_id)

    @staticmethod
    async def _courtesy(action: Awaitable[object], what: str, chat_id: str) -> None:
        """Read receipts and typing are nice to have; their failure must not stop or fail the reply."""
        try:
            await action
        except WhatsAppError as error:
            logger.debug("could not {} for {}: {}", what, chat_id, error)
