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
    reply = await db.messages.add_reply(contact_id="1@c.us", text="hello!", in_reply_to=inbound.id)
    assert (await db.messages.get(reply.id)).status is MessageStatus.PENDING  # type: ignore[union-attr]
    await db.messages.mark_sent(reply.id, wa_id="W2")
    await db.messages.mark_replied(inbound.id, reply_id=reply.id)

    sent = await db.messages.get(reply.id)
    answered = await db.messages.get(inbound.id)
    assert sent is not None and answered is not None
    assert (sent.status, sent.wa_id, sent.in_reply_to) == (MessageStatus.SENT, "W2", inbound.id)
    assert (answered.status, answered.reply_id) == (MessageStatus.REPLIED, reply.id)
    assert sent.sent_at is not None and sent.sent_at.tzinfo is not None


async def test_history_is_this_contacts_conversation_before_the_message(db: Database) -> None:
    a = await db.messages.add_inbound(wa_id="A", contact_id="ana@c.us", text="first", wa_time=NOW)
    await db.messages.add_inbound(wa_id="X", contact_id="ben@c.us", text="ben's secret", wa_time=NOW)
    b = await db.messages.add_inbound(wa_id="B", contact_id="ana@c.us", text="second", wa_time=NOW)
    assert a is not None and b is not None
    # The reply to `a` is stored after `b` arrived; the contact saw it, so it belongs to b's history.
    reply = await db.messages.add_reply(contact_id="ana@c.us", text="answer to first", in_reply_to=a.id)
    c = await db.messages.add_inbound(wa_id="C", contact_id="ana@c.us", text="third", wa_time=NOW)
    assert c is not None

    history = await db.messages.history(b, limit=10)
    assert [m.text for m in history] == ["first", "answer to first"]
    assert reply.id in {m.id for m in history}
    assert await db.messages.history(b, limit=1) == [history[-1]]
    assert await db.messages.history(b, limit=0) == []


@pytest.mark.mongodb
async def test_real_server_has_the_indexes_every_read_path_needs(db: Database) -> None:
    assert {"wa_id_unique", "contact_history"} <= await db.index_names("messages")
    # Outbound messages without a WhatsApp id yet must not collide on the unique index.
    await db.messages.add_reply(contact_id="1@c.us", text="a", in_reply_to=None)
    await db.messages.add_reply(contact_id="1@c.us", text="b", in_reply_to=None)
    assert await db.messages.add_inbound(wa_id="W", contact_id="1@c.us", text="x", wa_time=NOW) is not None
    assert await db.messages.add_inbound(wa_id="W", contact_id="2@c.us", text="y", wa_time=NOW) is None
