"""The message repository, on the in-memory store or a real server (TEST_MONGODB_URI)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.storage import Database, Direction, Message, MessageStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_a_whatsapp_id_is_stored_once(db: Database) -> None:
    first = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    again = await db.messages.add_inbound(wa_id="W1", contact_id="1@c.us", text="hi", wa_time=NOW)
    assert first is not None and again is None
    stored = await db.messages.for_contact("1@c.us")
    assert [m.id for m in stored] == [first.id]
    assert stored[0].status is MessageStatus.RECEIVED and stored[0].direction is Direction.INBOUND


async def add(db: Database, wa_id: str, contact_id: str = "1@c.us", text: str = "hi") -> Message:
    stored = await db.messages.add_inbound(wa_id=wa_id, contact_id=contact_id, text=text, wa_time=NOW)
    assert stored is not None
    return stored


async def status_of(db: Database, message: Message) -> MessageStatus:
    stored = await db.messages.get(message.id)
    assert stored is not None
    return stored.status


async def test_a_turn_takes_the_contacts_waiting_messages_and_one_reply_answers_them(db: Database) -> None:
    first, second = await add(db, "W1", text="hi"), await add(db, "W2", text="are you open?")
    await add(db, "X1", contact_id="2@c.us")
    turn = await db.messages.take_turn("1@c.us")
    assert [m.wa_id for m in turn] == ["W1", "W2"] and {m.status for m in turn} == {MessageStatus.ANSWERING}
    assert await db.messages.take_turn("1@c.us") != []  # answering (a crash) is taken again, under a new turn
    turn = await db.messages.take_turn("1@c.us")
    parts = await db.messages.store_reply(turn, [("Hello!", "3EB0K1"), ("Yes, until 6.", "3EB0K2")])
    assert [p.status for p in parts] == [MessageStatus.PENDING] * 2
    assert await status_of(db, first) is MessageStatus.REPLY_PENDING
    for number, part in enumerate(parts):
        await db.messages.part_sent(part, wa_id=f"R{number}")
    await db.messages.turn_answered(parts)

    for message in (first, second):
        answered = await db.messages.get(message.id)
        assert answered is not None and (answered.status, answered.reply_id) == (MessageStatus.SENT, parts[-1].id)
    sent = await db.messages.get(parts[0].id)
    assert sent is not None and (sent.status, sent.wa_id, sent.wa_key) == (MessageStatus.SENT, "R0", "3EB0K1")
    assert sent.answers == [first.id, second.id] and sent.in_reply_to == second.id
    assert sent.sent_at is not None and sent.sent_at.tzinfo is not None


async def test_a_claim_takes_the_messages_read_and_not_one_that_came_since(db: Database) -> None:
    first, second = await add(db, "W1"), await add(db, "W2")
    waiting = await db.messages.unfinished("1@c.us")
    later = await add(db, "W3")
    turn = await db.messages.claim(waiting)
    assert [m.id for m in turn] == [first.id, second.id]
    assert {(m.status, m.attempts) for m in turn} == {(MessageStatus.ANSWERING, 1)} and turn[0].turn == turn[1].turn
    for message in turn:  # what it returns is what is stored
        stored = await db.messages.get(message.id)
        assert stored is not None and (stored.status, stored.turn, stored.attempts) == (
            message.status,
            message.turn,
            message.attempts,
        )
    assert await status_of(db, later) is MessageStatus.RECEIVED
    assert [m.id for m in await db.messages.unfinished("1@c.us")] == [first.id, second.id, later.id]


async def test_a_claim_of_messages_moved_meanwhile_reads_back_what_it_took(db: Database) -> None:
    first, second = await add(db, "W1"), await add(db, "W2")
    waiting = await db.messages.unfinished("1@c.us")
    await db.messages.skip([first], reason="decided elsewhere")
    assert [m.id for m in await db.messages.claim(waiting)] == [second.id]
    assert await db.messages.claim([]) == []


async def test_a_settled_message_cannot_be_moved_again(db: Database) -> None:
    inbound = await add(db, "W1")
    await db.messages.skip([inbound], reason="not a text message")
    assert await db.messages.take_turn("1@c.us") == []
    await db.messages.go_stale([inbound], reason="old")
    await db.messages.fail([inbound], error="x")
    assert await status_of(db, inbound) is MessageStatus.SKIPPED


async def test_fallback_messages_are_owed_a_real_answer(db: Database) -> None:
    inbound = await add(db, "W1")
    turn = await db.messages.take_turn("1@c.us")
    parts = await db.messages.store_reply(turn, [("sorry, later", "K1")], fallback=True, error="HTTP 503")
    await db.messages.part_sent(parts[0], wa_id="R1")
    await db.messages.turn_answered(parts)
    assert await status_of(db, inbound) is MessageStatus.FALLBACK
    assert await db.messages.waiting_contacts() == []
    assert await db.messages.waiting_contacts(owed=True) == ["1@c.us"]
    assert await db.messages.take_turn("1@c.us") == []  # the model is still down
    assert await db.messages.unfinished("1@c.us") == []
    assert [m.id for m in await db.messages.unfinished("1@c.us", owed=True)] == [inbound.id]
    assert [m.id for m in await db.messages.take_turn("1@c.us", owed=True)] == [inbound.id]


async def test_waiting_contacts_longest_waiting_first(db: Database) -> None:
    await add(db, "A", contact_id="ana@c.us")
    await add(db, "B", contact_id="ben@c.us")
    await add(db, "A2", contact_id="ana@c.us")
    skipped = await add(db, "C", contact_id="caro@c.us")
    await db.messages.skip([skipped], reason="empty text")
    assert await db.messages.waiting_contacts() == ["ana@c.us", "ben@c.us"]


async def test_cut_short_finds_the_stored_reply_of_a_turn(db: Database) -> None:
    await add(db, "W1")
    turn = await db.messages.take_turn("1@c.us")
    parts = await db.messages.store_reply(turn, [("one", "K1"), ("two", "K2")])
    await db.messages.part_sent(parts[0], wa_id="R1")
    [(found_parts, found_turn)] = await db.messages.cut_short("1@c.us")
    assert [p.text for p in found_parts] == ["one", "two"] and [m.id for m in found_turn] == [turn[0].id]
    assert [p.status for p in found_parts] == [MessageStatus.SENT, MessageStatus.PENDING]


async def test_stale_messages_abandon_their_unsent_reply(db: Database) -> None:
    await add(db, "W1")
    turn = await db.messages.take_turn("1@c.us")
    [reply] = await db.messages.store_reply(turn, [("late answer", "3EB0K")])
    await db.messages.go_stale(turn, reason="older than 12 h")
    abandoned = await db.messages.get(reply.id)
    assert abandoned is not None and abandoned.status is MessageStatus.FAILED and "stale" in (abandoned.error or "")
    assert await status_of(db, turn[0]) is MessageStatus.STALE


async def test_history_is_this_contacts_conversation_before_the_message(db: Database) -> None:
    await db.messages.add_inbound(wa_id="A", contact_id="ana@c.us", text="first", wa_time=NOW)
    [a] = await db.messages.take_turn("ana@c.us")
    await db.messages.add_inbound(wa_id="X", contact_id="ben@c.us", text="ben's secret", wa_time=NOW)
    await db.messages.add_inbound(wa_id="B", contact_id="ana@c.us", text="second", wa_time=NOW)
    # The reply to `a` is sent after `b` arrived; the contact saw it, so it belongs to b's history.
    [reply] = await db.messages.store_reply([a], [("answer to first", "K1")])
    await db.messages.part_sent(reply, wa_id="R1")
    [b] = await db.messages.take_turn("ana@c.us")
    [unsent] = await db.messages.store_reply([b], [("never went out", "K2")])
    c = await db.messages.add_inbound(wa_id="C", contact_id="ana@c.us", text="third", wa_time=NOW)
    assert c is not None

    history = await db.messages.history(b, limit=10)
    assert [m.text for m in history] == ["first", "answer to first"]
    assert reply.id in {m.id for m in history} and unsent.id not in {m.id for m in history}
    assert await db.messages.history(b, limit=1) == [history[-1]]
    assert await db.messages.history(b, limit=0) == []


@pytest.mark.mongodb
async def test_real_server_has_the_indexes_every_read_path_needs(db: Database) -> None:
    names = {"wa_id_unique", "contact_history", "by_status", "reply_of", "answered_by", "by_turn"}
    assert names <= await db.index_names("messages")
    # Replies not sent yet (no WhatsApp id) must not collide on the unique index.
    assert await db.messages.add_inbound(wa_id="W", contact_id="1@c.us", text="x", wa_time=NOW) is not None
    await db.messages.store_reply(await db.messages.take_turn("1@c.us"), [("a", "K1"), ("b", "K2")])
    assert await db.messages.add_inbound(wa_id="W", contact_id="2@c.us", text="y", wa_time=NOW) is None
