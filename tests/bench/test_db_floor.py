"""The database floor: timed pairs of the bot's own durability writes, on a scratch database that is dropped."""

from __future__ import annotations

import uuid

from bench.db_floor import measure_db_writes
from bot.storage import Database


async def test_the_floor_times_each_pair_and_leaves_no_database(mongodb_uri: str) -> None:
    name = f"test_floor_{uuid.uuid4().hex[:8]}"

    figure = await measure_db_writes(mongodb_uri, name, samples=7)

    assert figure["n"] == 7
    assert 0 < figure["p50_ms"] <= figure["p99_ms"] <= figure["max_ms"]
    db = await Database.connect(mongodb_uri, name)
    try:
        assert await db.messages.for_contact("15550500001@c.us") == []
    finally:
        await db.close()
