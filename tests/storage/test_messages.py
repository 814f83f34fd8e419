"""The message repository, on the in-memory store or a real server (TEST_MONGODB_URI)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.storage import Database, Direction, MessageStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_a_whatsapp_id_is_stored_once(db: Database) -> None:
    first = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    again = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    assert first is not None and again is None
    stored = await db.messages.for_contact("1@c.us")
    assert [m.id for m in stored] == [first.id]
    assert stored[0].status is MessageStatus.RECEIVED and stored[0].direction is Direction.INBOUND


async def test_replies_link_both_ways_and_record_whatsapp_id(db: Database) -> None:
    inbound = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    assert inbound is not None
    taken = await db.messages.take(inbound.id)
    assert taken is not None and taken.status is MessageStatus.ANSWERING
    reply = await db.messages.store_reply(taken, "hello!", wa_key="3EB0K")
    assert (await db.messages.get(reply.id)).status is MessageStatus.PENDING  # type: ignore[union-attr]
    assert (await db.messages.get(inbound.id)).status is MessageStatus.REPLY_PENDING  # type: ignore[union-attr]
    await db.messages.record_sent(taken, reply, wa_id="W2")

    sent = await db.messages.get(reply.id)
    answered = await db.messages.get(inbound.id)
    assert sent is not None and answered is not None
    assert (sent.status, sent.wa_id, sent.wa_key, sent.in_reply_to) == (MessageStatus.SENT, "W2", "3EB0K", inbound.id)
    assert (answered.status, answered.reply_id) == (MessageStatus.SENT, reply.id)
    assert sent.sent_at is not None and sent.sent_at.tzinfo is not None


async def test_a_settled_message_cannot_be_taken_again(db: Database) -> None:
    inbound = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    assert inbound is not None
    assert await db.messages.skip(inbound.id, reason="not a text message") is True
    assert await db.messages.take(inbound.id) is None
    assert await db.messages.go_stale(inbound.id, reason="old") is False
    assert await db.messages.fail(inbound.id, error="x") is False
    assert (await db.messages.get(inbound.id)).status is MessageStatus.SKIPPED  # type: ignore[union-attr]


async def test_unfinished_lists_what_must_be_resumed_oldest_first(db: Database) -> None:
    ids = []
    for wa_id in ("A", "B", "C", "D"):
        stored = await db.messages.add_inbound(wa_id=wa_id, contact_id="1@c.us", text=wa_id, wa_time=NOW)
        assert stored is not None
        ids.append(stored.id)
    await db.messages.take(ids[1])
    await db.messages.skip(ids[2], reason="empty text")
    assert [m.wa_id for m in await db.messages.unfinished()] == ["A", "B", "D"]


async def test_stale_message_abandons_its_unsent_reply(db: Database) -> None:
    inbound = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    assert inbound is not None
    taken = await db.messages.take(inbound.id)
    assert taken is not None
    reply = await db.messages.store_reply(taken, "late answer", wa_key="3EB0K")
    assert await db.messages.go_stale(inbound.id, reason="older than 12 h") is True
    abandoned = await db.messages.get(reply.id)
    assert abandoned is not None and abandoned.status is MessageStatus.FAILED and "stale" in (abandoned.error or "")


async def test_history_is_this_contacts_conversation_before_the_message(db: Database) -> None:
    a = await db.messages.add_inbound(wa_id="A", contact_id="ana@c.us", text="first", wa_time=NOW)
    await db.messages.add_inbound(wa_id="X", contact_id="ben@c.us", text="ben's secret", wa_time=NOW)
    b = await db.messages.add_inbound(wa_id="B", contact_id="ana@c.us", text="second", wa_time=NOW)
    assert a is not None and b is not None
    # The reply to `a` is sent after `b` arrived; the contact saw it, so it belongs to b's history.
    reply = await db.messages.store_reply(a, "answer to first", wa_key="K1")
    await db.messages.record_sent(a, reply, wa_id="R1")
    unsent = await db.messages.store_reply(b, "never went out", wa_key="K2")
    c = await db.messages.add_inbound(wa_id="C", contact_id="ana@c.us", text="third", wa_time=NOW)
    assert c is not None

    history = await db.messages.history(b, limit=10)
    assert [m.text for m in history] == ["first", "answer to first"]
    assert reply.id in {m.id for m in history} and unsent.id not in {m.id for m in history}
    assert await db.messages.history(b, limit=1) == [history[-1]]
    assert await db.messages.history(b, limit=0) == []


@pytest.mark.mongodb
async def test_real_server_has_the_indexes_every_read_path_needs(db: Database) -> None:
    assert {"wa_id_unique", "contact_history", "by_status", "reply_of", "answered_by"} <= await db.index_names(
        "messages"
    )
    # Replies not sent yet (no WhatsApp id) must not collide on the unique index.
    inbound = await db.messages.add_inbound(wa_id="W", contact_id="1@c.us", text="x", wa_time=NOW)
    assert inbound is not None
    await db.messages.store_reply(inbound, "a", wa_key="K1")
    await db.messages.store_reply(inbound, "b", wa_key="K2")
    assert await db.messages.add_inbound(wa_id="W", contact_id="2@c.us", text="y", wa_time=NOW) is None
