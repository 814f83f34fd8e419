"""Threads: a contact's conversations split by idle gaps, each with its rolling summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import Database

GAP = timedelta(minutes=30)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_turns_close_together_share_a_thread(db: Database) -> None:
    first, ended = await db.threads.current("ana@c.us", T0, GAP)
    assert ended is None and first.turns == 1
    again, ended = await db.threads.current("ana@c.us", T0 + timedelta(minutes=29), GAP)
    assert ended is None
    assert again.id == first.id and again.turns == 2
    assert again.last_message_at == T0 + timedelta(minutes=29)


async def test_an_idle_gap_starts_a_new_thread_and_names_the_one_that_ended(db: Database) -> None:
    first, _ = await db.threads.current("ana@c.us", T0, GAP)
    second, ended = await db.threads.current("ana@c.us", T0 + timedelta(minutes=31), GAP)
    assert second.id != first.id and second.turns == 1
    assert ended is not None and ended.id == first.id


async def test_threads_are_per_contact(db: Database) -> None:
    ana, _ = await db.threads.current("ana@c.us", T0, GAP)
    ben, ended = await db.threads.current("ben@c.us", T0, GAP)
    assert ben.id != ana.id and ended is None


async def test_earlier_threads_are_the_summarised_ones_before_newest_first(db: Database) -> None:
    days = [T0 + timedelta(days=day) for day in range(4)]
    threads = [(await db.threads.current("ana@c.us", day, GAP))[0] for day in days]
    for thread in threads[:2]:
        await db.threads.summarized(thread.id, f"summary of {thread.id}", until=thread.last_message_at, count=3)
    earlier = await db.threads.earlier("ana@c.us", before=threads[3].started_at, limit=5)
    # The third thread has no summary yet, the fourth is the current one.
    assert [thread.id for thread in earlier] == [threads[1].id, threads[0].id]
    assert earlier[0].summary == f"summary of {threads[1].id}" and earlier[0].summarized_count == 3


async def test_a_summary_never_replaces_a_newer_one(db: Database) -> None:
    thread, _ = await db.threads.current("ana@c.us", T0, GAP)
    await db.threads.summarized(thread.id, "newer", until=T0 + timedelta(minutes=5), count=10)
    await db.threads.summarized(thread.id, "older", until=T0 + timedelta(minutes=1), count=4)
    stored = await db.threads.get(thread.id)
    assert stored is not None and stored.summary == "newer" and stored.summarized_count == 10


async def test_forget_removes_every_thread_of_the_contact_only(db: Database) -> None:
    await db.threads.current("ana@c.us", T0, GAP)
    await db.threads.current("ana@c.us", T0 + timedelta(days=1), GAP)
    await db.threads.current("ben@c.us", T0, GAP)
    assert await db.threads.forget("ana@c.us") == 2
    assert await db.threads.latest("ana@c.us") is None
    assert await db.threads.latest("ben@c.us") is not None
