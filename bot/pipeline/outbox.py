"""The outbox: a reply is stored (pending) before it is sent, then marked sent with WhatsApp's id, or failed."""

from __future__ import annotations

from loguru import logger

from bot.errors import WhatsAppError
from bot.pipeline.protocols import ChatActions
from bot.storage import Database, Message


class Outbox:
    def __init__(self, db: Database, chat: ChatActions) -> None:
        self._db = db
        self._chat = chat

    async def send_reply(self, answering: Message, text: str) -> Message:
        """Send `text` as the answer to `answering`; raises WhatsAppError (after recording it) if sending fails."""
        reply = await self._db.messages.add_reply(contact_id=answering.contact_id, text=text, in_reply_to=answering.id)
        try:
            wa_id = await self._chat.send_text(answering.contact_id, text)
        except WhatsAppError as error:
            await self._db.messages.mark_failed(reply.id, error=str(error))
            logger.error("reply {} to {} not sent: {}", reply.id, answering.contact_id, error)
            raise
        await self._db.messages.mark_sent(reply.id, wa_id=wa_id)
        return reply
