"""The conversation worker: for one stored inbound message, build the prompt, get the reply, send it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from loguru import logger

from bot.ai import Reply, Responder, build_prompt
from bot.errors import WhatsAppError
from bot.pipeline.outbox import Outbox
from bot.pipeline.protocols import ChatActions
from bot.storage import Contact, Database, Message


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
    ) -> None:
        self._db = db
        self._responder = responder
        self._outbox = outbox
        self._chat = chat
        self._default_persona = default_persona
        self._history_limit = history_limit

    async def __call__(self, message: Message) -> None:
        contact = await self._db.contacts.get(message.contact_id) or Contact(
            id=message.contact_id, phone=message.contact_id.partition("@")[0]
        )
        # "typing..." goes out while the model thinks; leaving the group waits for it, so it is never shown
        # after the reply.
        async with asyncio.TaskGroup() as group:
            group.create_task(self._show_typing(contact.id), name=f"pipeline:{contact.id}:typing")
            reply = await self._generate(message, contact)

        try:
            sent = await self._outbox.send_reply(message, reply.text)
        except WhatsAppError:
            return  # recorded as failed by the outbox; the message stays `received`
        await self._db.messages.mark_replied(message.id, reply_id=sent.id)
        # Read last, and only up to what was answered: a message that is never answered (crash, outage) stays
        # unread on WhatsApp, where the next start finds it again; the operator's phone does not show it as seen.
        if message.wa_id:
            await self._courtesy(self._chat.mark_read(contact.id, answered=message.wa_id), "mark as read", contact.id)
        logger.info(
            "answered {} for {} in {:.2f} s{}",
            message.id,
            contact.id,
            reply.latency_s,
            " (fallback)" if reply.is_fallback else "",
        )

    async def _generate(self, message: Message, contact: Contact) -> Reply:
        persona = await self._db.personas.get_or_builtin(contact.persona or self._default_persona)
        history = await self._db.messages.history(message, limit=self._history_limit)
        return await self._responder.reply(build_prompt(persona, contact, history, message))

    async def _show_typing(self, chat_id: str) -> None:
        await self._courtesy(self._chat.set_typing(chat_id), "show typing", chat_id)

    @staticmethod
    async def _courtesy(action: Awaitable[object], what: str, chat_id: str) -> None:
        """Read receipts and typing are nice to have; their failure must not stop or fail the reply."""
        try:
            await action
        except WhatsAppError as error:
            logger.debug("could not {} for {}: {}", what, chat_id, error)
