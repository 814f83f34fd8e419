"""Retention: the bot does not keep conversations forever (RETENTION_DAYS, RETENTION_MODE).

Only settled messages go: never one the pipeline may still touch (unfinished, a reply still pending, one owed a
real answer after a fallback). Remove mode deletes them, the threads whose last message is older, and done
scheduled messages; anonymise mode empties their text (they still count in summaries) and drops old threads'
summaries, which retell the contact's words.

No TTL index: MongoDB's TTL monitor cannot anonymise, cannot tell a settled message from one in flight, and the
in-memory store has none; one explicit daily pass does both modes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.storage import Database, utc_now

RetentionMode = Literal["remove", "anonymise"]


@dataclass(frozen=True)
class RetentionResult:
    mode: RetentionMode
    cutoff: datetime
    messages: int = 0
    threads: int = 0
    scheduled: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.messages or self.threads or self.scheduled)

    def describe(self) -> str:
        verb = "removed" if self.mode == "remove" else "anonymised"
        return (
            f"retention: {verb} {self.messages} message(s), {self.threads} thread(s), {self.scheduled} scheduled "
            f"message(s) older than {self.cutoff:%Y-%m-%d %H:%M} UTC"
        )


async def apply_retention(
    db: Database, *, days: int, mode: RetentionMode, now: datetime | None = None
) -> RetentionResult:
    """One pass of the clean-up; `days` 0 keeps everything."""
    cutoff = (now or utc_now()) - timedelta(days=days)
    if days <= 0:
        return RetentionResult(mode, cutoff)
    if mode == "remove":
        return RetentionResult(
            mode,
            cutoff,
            messages=await db.messages.remove_settled_before(cutoff),
            threads=await db.threads.remove_ended_before(cutoff),
            scheduled=await db.scheduled.remove_done_before(cutoff),
        )
    return RetentionResult(
        mode,
        cutoff,
        messages=await db.messages.anonymise_settled_before(cutoff),
        threads=await db.threads.forget_summaries_before(cutoff),
        scheduled=await db.scheduled.anonymise_done_before(cutoff),
    )
