"""The database floor: the writes durability needs per message, on the run's store, with the bot's own code.

A reply cannot be sent before two things are stored: the inbound message (`add_inbound`) and the pending reply
(`store_reply(..., mark_pending=False)`, as the pipeline's outbox calls it before sending: marking the messages
reply-pending is bookkeeping, not durability). Both are timed as one pair, one message after the other, on a
scratch database of the same store that is dropped afterwards. Whatever round trips those repository calls make
is the floor, so it follows the code if they change.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench.stats import latency_figure
from bot.storage import Database
from bot.storage.models import new_id

WARM_UPS = 5
CONTACT = "15550500001@c.us"


async def measure_db_writes(uri: str, database: str, samples: int) -> dict[str, float]:
    """`samples` timed pairs (inbound stored, pending reply stored) after a few warm-ups; a latency figure."""
    db = await Database.connect(uri, database)
    try:
        await db.drop()
        await db.ensure_indexes()  # the daemon writes with its indexes in place; so does the floor
        durations: list[float] = []
        for index in range(samples + WARM_UPS):
            started = time.perf_counter()
            await _one_message(db, index)
            if index >= WARM_UPS:
                durations.append(time.perf_counter() - started)
        return latency_figure(durations)
    finally:
        try:
            await db.drop()
        finally:
            await db.close()


async def _one_message(db: Database, index: int) -> None:
    stored = await db.messages.add_inbound(
        wa_id=f"false_{CONTACT}_BENCHFLOOR{index:06d}",
        contact_id=CONTACT,
        text=f"floor message {index}",
        wa_time=datetime.now(UTC),
    )
    if stored is None:
        raise RuntimeError("the scratch database already held this message")
    # store_reply answers a turn; the turn is given here rather than taken (take_turn is not a durability write).
    turn = [stored.model_copy(update={"turn": new_id()})]
    await db.messages.store_reply(turn, [(f"reply to floor message {index}", new_id())], mark_pending=False)
