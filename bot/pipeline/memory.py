"""Conversation memory: the model folds a thread's older turns into the thread's rolling summary, so that the
prompt keeps the last turns verbatim and everything before as a few sentences, for a relationship of any length.

Folding runs in the background after a reply went out, never on the reply's path, and one thread at a time:
while a thread grows it is folded in batches (SUMMARY_BATCH turns beyond the verbatim window); when a thread
ends (the contact's next message starts a new one), what is left of it is folded, so the next prompt has the
whole earlier conversation as its summary.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loguru import logger

from bot.ai.prompt import message_text
from bot.ai.responder import Responder
from bot.ops.tasks import TaskSet
from bot.storage import Database, Direction, Message, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.models import Thread

_JUST_BEFORE = timedelta(milliseconds=1)


class Memory:
    def __init__(self, db: Database, responder: Responder, *, history_limit: int, batch: int) -> None:
        self._db = db
        self._responder = responder
        self._history_limit = history_limit
        self._batch = batch
        self._folding: set[str] = set()
        self._tasks = TaskSet()

    def after_reply(self, thread: Thread, ended: Thread | None) -> None:
        """Schedule the folds this reply made due: the thread that just ended, and the current one if it grew."""
        if ended is not None:
            self._spawn(ended, upto=thread.started_at - _JUST_BEFORE, whole=True)
        # A turn is at least two messages (the contact's and the reply): only when that many could fill a batch
        # beyond the verbatim window is the thread read, so most replies cost memory nothing.
        if 2 * thread.turns - thread.summarized_count >= self._history_limit + self._batch:
            self._spawn(thread, upto=None, whole=False)

    def _spawn(self, thread: Thread, *, upto: datetime | None, whole: bool) -> None:
        if thread.id in self._folding:
            return
        self._folding.add(thread.id)
        self._tasks.spawn(self._fold_safely(thread, upto, whole), name=f"memory:{thread.id}")

    async def _fold_safely(self, thread: Thread, upto: datetime | None, whole: bool) -> None:
        try:
            await self.fold(thread, upto=upto, whole=whole)
        except OUTAGE_ERRORS as error:
            logger.info("thread {}: not summarised now ({})", thread.id, type(error).__name__)
        finally:
            self._folding.discard(thread.id)

    async def fold(self, thread: Thread, *, upto: datetime | None = None, whole: bool = False) -> bool:
        """Fold the thread's turns up to `upto` (now) not yet summarised into its summary: all of them with
        `whole`, else only those beyond the verbatim window, a full batch at least. True if a summary was stored."""
        fresh = await self._db.threads.get(thread.id) or thread
        after = fresh.summarized_until or fresh.started_at - _JUST_BEFORE
        said = await self._db.messages.said_between(fresh.contact_id, after=after, upto=upto or utc_now())
        folding = said if whole else said[: max(0, len(said) - self._history_limit)]
        if not folding or (not whole and len(folding) < self._batch):
            return False
        summary = await self._responder.summarize(fresh.summary, transcript(folding))
        if summary is None:
            return False
        await self._db.threads.summarized(
            fresh.id, summary, until=folding[-1].created_at, count=fresh.summarized_count + len(folding)
        )
        logger.info("thread {}: {} turn(s) folded into its summary", fresh.id, len(folding))
        return True

    async def wait(self, timeout_s: float) -> bool:
        """Wait for the folds under way; True if they all finished in time."""
        return await self._tasks.wait(timeout_s)

    async def close(self, timeout_s: float) -> None:
        """Let folds under way finish briefly (a cut one is done again later), then cancel the rest."""
        if not await self._tasks.wait(timeout_s):
            await self._tasks.cancel()


def transcript(messages: list[Message]) -> str:
    """The turns as the summariser reads them: who spoke, then what they said (cleaned and capped)."""
    lines = []
    for message in messages:
        speaker = "Contact" if message.direction is Direction.INBOUND else "You"
        lines.append(f"{speaker}: {message_text(message, 1000)}")
    return "\n".join(lines)
