"""The reconciler: puts unfinished work back in the queues, on start, after every (re)connection to WhatsApp and
when the database returns; and tells the operator about messages too old to answer.

Its other half is in the WhatsApp client: after every (re)connection the unread chats are read back, since
real WhatsApp Web emits no events for what arrived while nobody listened; the inbox stores the ones it has not
seen. This half finds, in the database, the messages that were stored but not settled (a crash, a stop or an
outage cut them short) and queues them; the worker resumes each one from its stored state.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from bot.ops.alerts import Alerts
from bot.pipeline.queues import KeyedWorkQueue
from bot.storage import Database, Message
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth

STALE_ALERT_KEY = "stale"
# Stale messages found close together (one reconciliation) are reported in one alert.
STALE_REPORT_DELAY_S = 2.0


class Reconciler:
    def __init__(self, db: Database, queue: KeyedWorkQueue[str], health: StorageHealth) -> None:
        self._db = db
        self._queue = queue
        self._health = health

    async def resume(self, *, owed: bool = True) -> int:
        """Queue every contact with unfinished messages (and, with `owed`, those owed a real answer after a
        fallback); returns how many were not queued already."""
        try:
            contacts = await self._db.messages.waiting_contacts(owed=owed)
            priorities = await self._db.contacts.priorities(contacts) if contacts else {}
        except OUTAGE_ERRORS as error:
            self._health.failed(error)  # it runs again when the database is back
            return 0
        queued = sum(
            self._queue.put(contact_id, contact_id, priority=priorities.get(contact_id, 0)) for contact_id in contacts
        )
        if queued:
            logger.info("resuming the unfinished messages of {} contact(s)", queued)
        return queued


class StaleReport:
    """Tells the operator about messages too old to answer, several found together in one alert."""

    def __init__(self, alerts: Alerts | None) -> None:
        self._alerts = alerts
        self._found: list[Message] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, message: Message) -> None:
        self._found.append(message)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(STALE_REPORT_DELAY_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        found, self._found = self._found, []
        if not found:
            return
        senders = sorted({message.contact_id.partition("@")[0] for message in found})
        text = (
            f"{len(found)} message(s) from {', '.join('+' + sender for sender in senders)} were too old to answer "
            "automatically; they are left unread for you"
        )
        if self._alerts is not None:
            self._alerts.notice(STALE_ALERT_KEY, text)
        else:
            logger.warning(text)
