"""Sends the operator's scheduled messages when they are due, each exactly once (bot/storage/scheduled.py).

A due message is claimed (pending -> sending) before it is sent, with the id stored for it when it was added.
One left `sending` by a run that died or stopped mid-send (or whose "sent" could not be recorded) may have
gone out: it is sent with `maybe_sent`, which looks the id up in the chat first. Each one is also recorded in
`messages` as the bot's own outbound message, so its echo is not taken for the operator typing on the phone
(which would pause the contact) and the contact's answer is answered knowing what was said.

A message found more than `max_age` after its time (the daemon was down) is not sent that late: it is marked
failed ("missed") and the operator is told.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from bot.errors import WhatsAppError
from bot.ops.alerts import Alerts
from bot.storage import Database, utc_now
from bot.storage.scheduled import ScheduledMessage


class ScheduledChat(Protocol):
    async def send_text(self, chat_id: str, text: str, *, message_id: str, maybe_sent: bool = False) -> str: ...

    async def find_sent(self, chat_id: str, message_id: str) -> str | None: ...


class ScheduledSender:
    def __init__(self, db: Database, chat: ScheduledChat, *, max_age: timedelta, alerts: Alerts | None = None) -> None:
        self._db = db
        self._chat = chat
        self._max_age = max_age
        self._alerts = alerts
        self._in_flight: set[str] = set()

    async def send_due(self, now: datetime | None = None) -> int:
        """Send what is due, oldest first: first what an earlier try left `sending`, then due pending messages.
        Returns how many were handled (sent, found sent, failed or missed). Database errors propagate."""
        handled = 0
        for left in await self._db.scheduled.sending():
            if left.id in self._in_flight:
                continue
            taken = await self._db.scheduled.reclaim(left.id, now or utc_now())
            if taken is not None:
                await self._deliver(taken, maybe_sent=True)
                handled += 1
        while (due := await self._db.scheduled.claim_due(now or utc_now())) is not None:
            await self._deliver(due, maybe_sent=False)
            handled += 1
        return handled

    async def _deliver(self, message: ScheduledMessage, *, maybe_sent: bool) -> None:
        self._in_flight.add(message.id)
        try:
            if utc_now() - message.at > self._max_age:
                await self._too_late(message, maybe_sent=maybe_sent)
                return
            record = await self._db.messages.store_outbound(
                f"scheduled-{message.id}", contact_id=message.to, text=message.text, wa_key=message.message_id
            )
            try:
                wa_id = await self._chat.send_text(
                    message.to, message.text, message_id=message.message_id, maybe_sent=maybe_sent
                )
            except WhatsAppError as error:
                await self._db.scheduled.mark_failed(message.id, error=f"not sent: {error}")
                await self._db.messages.outbound_failed(record, error=f"scheduled message not sent: {error}")
                logger.error("scheduled message {} to {} not sent: {}", message.id, message.to, error)
                self._notice(message, f"The scheduled message {message.id} to +{message.phone} was not sent: {error}")
                return
            await self._db.scheduled.mark_sent(message.id, wa_id=wa_id)
            await self._db.messages.part_sent(record, wa_id=wa_id)
            logger.info(
                "scheduled message {} sent to {} (due {:%Y-%m-%d %H:%M} UTC)", message.id, message.to, message.at
            )
        finally:
            self._in_flight.discard(message.id)

    async def _too_late(self, message: ScheduledMessage, *, maybe_sent: bool) -> None:
        if maybe_sent and (wa_id := await self._chat.find_sent(message.to, message.message_id)) is not None:
            await self._db.scheduled.mark_sent(message.id, wa_id=wa_id)
            logger.info("scheduled message {} had gone out before the daemon stopped; recorded as sent", message.id)
            return
        late_h = (utc_now() - message.at).total_seconds() / 3600
        error = f"missed: found {late_h:.1f} h after its time (the bot was not running); not sent that late"
        await self._db.scheduled.mark_failed(message.id, error=error)
        logger.warning("scheduled message {} to {}: {}", message.id, message.to, error)
        self._notice(
            message,
            f"The scheduled message {message.id} to +{message.phone}, due {message.at:%Y-%m-%d %H:%M} UTC, was not "
            f"sent: the bot was not running then, and it is {late_h:.1f} h late. Schedule it again if still wanted.",
        )

    def _notice(self, message: ScheduledMessage, text: str) -> None:
        if self._alerts is not None:
            self._alerts.notice(f"scheduled:{message.id}", text)
