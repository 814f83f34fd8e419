"""The outbox: a reply is stored (pending, with the id it will be sent with) before it is sent, then recorded
as sent with WhatsApp's id; one that WhatsApp refuses is recorded as failed."""

from __future__ import annotations

from loguru import logger

from bot.ai import Reply
from bot.errors import WhatsAppError
from bot.pipeline.protocols import ChatActions
from bot.storage import Database, Message
from bot.whatsapp.events import new_message_id


class Outbox:
    def __init__(self, db: Database, chat: ChatActions) -> None:
        self._db = db
        self._chat = chat

    async def store(self, answering: Message, reply: Reply) -> Message:
        """answering -> reply-pending. Nothing is sent that is not recorded first: if this write fails, the
        caller stops and the message is answered once the database is back."""
        return await self._db.messages.store_reply(
            answering, reply.text, wa_key=new_message_id(), fallback=reply.is_fallback, error=reply.error
        )

    async def send(self, answering: Message, reply: Message, *, maybe_sent: bool = False) -> bool:
        """Send a stored reply and record it; False (recorded as failed, logged) if WhatsApp refused it.

        `maybe_sent`: the reply was stored before a crash or a stop and may have gone out; WhatsApp is searched
        for its id first, and a reply found there is recorded, not sent again.
        """
        assert reply.wa_key is not None, "a stored reply always has the id it is sent with"
        try:
            wa_id = await self._chat.send_text(
                answering.contact_id, reply.text, message_id=reply.wa_key, maybe_sent=maybe_sent
            )
        except WhatsAppError as error:
            await self._db.messages.fail(answering.id, error=f"reply not sent: {error}")
            logger.error("message {}: reply {} to {} not sent: {}", answering.id, reply.id, answering.contact_id, error)
            return False
        await self._db.messages.record_sent(answering, reply, wa_id=wa_id)
        return True

    async def find(self, answering: Message, reply: Message) -> bool:
        """Whether a stored reply went out after all (then it is recorded as sent)."""
        assert reply.wa_key is not None
        wa_id = await self._chat.find_sent(answering.contact_id, reply.wa_key)
        if wa_id is None:
            return False
        await self._db.messages.record_sent(answering, reply, wa_id=wa_id)
        return True
