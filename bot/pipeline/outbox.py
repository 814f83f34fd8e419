"""The outbox: a reply is stored (pending, in parts, each with the id it will be sent with) before it is sent,
then each part is recorded as sent with WhatsApp's id; a reply that WhatsApp refuses is recorded as failed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from loguru import logger

from bot.ai import Reply
from bot.errors import WhatsAppError
from bot.ops.metrics import Metrics, ReplyOutcome
from bot.pipeline.protocols import ChatActions
from bot.resilience import CircuitBreaker
from bot.storage import GONE_OUT, Database, Message
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.models import ReplyUsage
from bot.whatsapp.events import new_message_id

# Before each part goes out: "typing..." for a human-looking while, the gap per contact, the global rate.
Pace = Callable[[str, str], Awaitable[object]]


class Outbox:
    def __init__(
        self,
        db: Database,
        chat: ChatActions,
        *,
        split: Callable[[str], list[str]] | None = None,
        pace: Pace | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._chat = chat
        self._split = split
        self._pace = pace
        # WhatsApp refusing sends again and again (a restriction on the account, a broken page): stop trying
        # for a while rather than fail every reply; the replies wait, stored, for its probe.
        self.breaker = breaker

    async def store(self, turn: list[Message], reply: Reply, *, usage: ReplyUsage | None = None) -> list[Message]:
        """answering -> reply-pending. Nothing is sent that is not recorded first: if this write fails, the
        caller stops and the messages are answered once the database is back."""
        texts = self._split(reply.text) if self._split is not None else [reply.text]
        parts = [(text, new_message_id()) for text in texts or [reply.text]]
        # Marking the messages reply-pending waits for `send`: it is bookkeeping, not durability (a crash before
        # it leaves answering messages whose stored reply is found and looked up before it is sent again).
        return await self._db.messages.store_reply(
            turn, parts, fallback=reply.is_fallback, error=reply.error, usage=usage, mark_pending=False
        )

    async def send(self, turn: list[Message], parts: list[Message], *, maybe_sent: bool = False) -> bool:
        """Send a stored reply, part by part, and record it; False if WhatsApp refused it (recorded as failed,
        logged) or if sending is paused by the breaker (the reply waits, stored, for the next try).

        `maybe_sent`: the reply was stored before a crash, a stop or an outage and may have gone out; WhatsApp
        is searched for each part's id first, and a part found there is recorded, not sent again. Otherwise the
        reply is fresh from `store`, and its messages are marked reply-pending while the first part goes out.
        """
        if maybe_sent:
            return await self._send_parts(turn, parts, maybe_sent=True)
        marking = asyncio.create_task(self._db.messages.reply_pending(parts))
        try:
            sent = await self._send_parts(turn, parts, maybe_sent=False)
        except BaseException:
            marking.cancel()  # landed or not, the stored reply is found and looked up before it is sent again
            raise
        # Once the reply is recorded (or recorded as refused), the mark changes nothing, so its failure does not
        # matter: the messages moved on from answering either way.
        with contextlib.suppress(*OUTAGE_ERRORS):
            await marking
        return sent

    async def _send_parts(self, turn: list[Message], parts: list[Message], *, maybe_sent: bool) -> bool:
        contact_id = turn[-1].contact_id
        for part in parts:
            if part.status in GONE_OUT:
                continue
            assert part.wa_key is not None, "a stored reply always has the id it is sent with"
            if self.breaker is not None and not self.breaker.allow():
                logger.warning("message(s) {}: sending is paused (circuit breaker send); the reply waits", ids_of(turn))
                return False
            if self._pace is not None:
                await self._pace(contact_id, part.text)
            started = time.perf_counter()
            try:
                wa_id = await self._chat.send_text(contact_id, part.text, message_id=part.wa_key, maybe_sent=maybe_sent)
            except WhatsAppError as error:
                if self.breaker is not None:
                    self.breaker.failed()
                if self._metrics is not None:
                    self._metrics.turn_ended(ReplyOutcome.FAILED)
                await self._db.messages.fail(turn, error=f"reply not sent: {error}")
                logger.error("message(s) {}: reply to {} not sent: {}", ids_of(turn), contact_id, error)
                return False
            except BaseException:
                if self.breaker is not None:
                    self.breaker.released()  # cut short (a stop): says nothing about WhatsApp
                raise
            if self.breaker is not None:
                self.breaker.succeeded()
            if self._metrics is not None:
                self._metrics.sent(time.perf_counter() - started)
            await self._db.messages.part_sent(part, wa_id=wa_id)
        await self._db.messages.turn_answered(parts)
        return True

    async def went_out(self, turn: list[Message], parts: list[Message]) -> bool:
        """Whether any part of a stored reply went out after all (those found are recorded as sent)."""
        found = False
        for part in parts:
            if part.status in GONE_OUT:
                found = True
                continue
            assert part.wa_key is not None
            wa_id = await self._chat.find_sent(turn[-1].contact_id, part.wa_key)
            if wa_id is not None:
                await self._db.messages.part_sent(part, wa_id=wa_id)
                found = True
        return found


def ids_of(messages: Sequence[Message]) -> str:
    """Message ids for a log line, so that every failure can be traced to the messages it concerns."""
    return ", ".join(message.id for message in messages) or "(none taken)"
