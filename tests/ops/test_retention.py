"""Retention removes or anonymises only what is old and settled; never what the pipeline may still touch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ops.retention import apply_retention
from bot.storage import Database, Direction, Message, MessageStatus
from bot.storage.models import Thread
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)


async def put(db: Database, text: str, status: MessageStatus, at: datetime, **fields: object) -> Message:
    direction = Direction.OUTBOUND if status is MessageStatus.PENDING else Direction.INBOUND
    message = Message(contact_id="1@c.us", direction=direction, status=status, text=text, created_at=at, **fields)  # type: ignore[arg-type]
    await db.messages._collection.insert_one(message.to_mongo())
    return message


async def store(db: Database) -> None:
    """Old and recent messages, settled and not; an old and a recent thread; an old sent scheduled message."""
    await put(db, "old answered", MessageStatus.SENT, OLD)
    await put(db, "old skipped", MessageStatus.SKIPPED, OLD)
    await put(db, "old stale", MessageStatus.STALE, OLD)
    await put(db, "old waiting", MessageStatus.RECEIVED, OLD)
    await put(db, "old answering", MessageStatus.ANSWERING, OLD)
    await put(db, "old reply pending", MessageStatus.REPLY_PENDING, OLD)
    await put(db, "old owed after a fallback", MessageStatus.FALLBACK, OLD)
    await put(db, "old reply not sent yet", MessageStatus.PENDING, OLD)
    await put(db, "recent answered", MessageStatus.SENT, RECENT)
    for ended, summary in ((OLD, "they asked about the old order"), (RECENT, "they asked about opening hours")):
        thread = Thread(contact_id="1@c.us", started_at=ended, last_message_at=ended, summary=summary)
        await db.threads._collection.insert_one(thread.to_mongo())
    sent = ScheduledMessage(to="1@c.us", text="happy new year", at=OLD, message_id="3EB0A")
    await db.scheduled.add(sent)
    await db.scheduled.claim_due(NOW)
    await db.scheduled.mark_sent(sent.id, wa_id="w")


KEPT = {
    "old waiting",
    "old answering",
    "old reply pending",
    "old owed after a fallback",
    "old reply not sent yet",
    "recent answered",
}


async def texts(db: Database) -> set[str]:
    return {message.text for message in await db.messages.for_contact("1@c.us")}


async def test_remove_deletes_old_settled_messages_old_threads_and_done_scheduled_messages(db: Database) -> None:
    await store(db)
    result = await apply_retention(db, days=180, mode="remove", now=NOW)
    assert (result.messages, result.threads, result.scheduled) == (3, 1, 1)
    assert await texts(db) == KEPT
    [thread] = [t async for t in db.threads._collection.find({})]
    assert thread["summary"] == "they asked about opening hours"
    assert await db.scheduled.list(include_done=True) == []
    assert "removed 3 message(s), 1 thread(s), 1 scheduled message(s)" in result.describe()

    again = await apply_retention(db, days=180, mode="remove", now=NOW)
    assert not again.changed


async def test_anonymise_empties_old_settled_texts_keeps_them_counted_and_drops_old_summaries(db: Database) -> None:
    await store(db)
    result = await apply_retention(db, days=180, mode="anonymise", now=NOW)
    assert (result.messages, result.threads, result.scheduled) == (3, 1, 1)
    stored = await db.messages.for_contact("1@c.us")
    assert len(stored) == 9  # nothing removed: they still count
    assert await texts(db) == KEPT | {""}
    assert sorted(m.status.value for m in stored if m.text == "") == ["sent", "skipped", "stale"]
    summaries = {t["summary"] async for t in db.threads._collection.find({})}
    assert summaries == {None, "they asked about opening hours"}
    [scheduled] = await db.scheduled.list(include_done=True)
    assert scheduled.text == "" and scheduled.status is ScheduledStatus.SENT

    assert not (await apply_retention(db, days=180, mode="anonymise", now=NOW)).changed


async def test_zero_days_keeps_everything(db: Database) -> None:
    await store(db)
    result = await apply_retention(db, days=0, mode="remove", now=NOW)
    assert not result.changed
    assert len(await db.messages.for_contact("1@c.us")) == 9
