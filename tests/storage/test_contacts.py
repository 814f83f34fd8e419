"""The contact repository: first contact, the operator's flags and pauses (in memory, or TEST_MONGODB_URI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import Contact, Database

ANA = "15551234567@c.us"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def test_a_new_contact_is_answered_by_default(db: Database) -> None:
    contact = await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    assert (contact.blocked, contact.auto_reply, contact.priority) == (False, True, 0)
    assert contact.paused_until is None and contact.pause_reason is None
    assert not contact.paused_at(NOW)


async def test_seen_keeps_the_name_fresh_and_never_touches_the_flags(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await db.contacts.set_flags(ANA, blocked=True)
    await db.contacts.pause(ANA, NOW + timedelta(minutes=30), "operator wrote from the phone")
    contact = await db.contacts.seen(ANA, phone="15551234567", push_name="Ana P")
    assert contact.push_name == "Ana P" and contact.blocked
    assert contact.paused_until == NOW + timedelta(minutes=30)
    unnamed = await db.contacts.seen(ANA, phone="15551234567", push_name=None)
    assert unnamed.push_name == "Ana P"


async def test_pause_and_unpause(db: Database) -> None:
    until = NOW + timedelta(minutes=30)
    paused = await db.contacts.pause(ANA, until, "operator wrote from the phone")
    # Upsert-safe: a contact the bot never saw (the operator wrote first) is created with its number.
    assert paused.phone == "15551234567" and paused.paused_until == until
    assert paused.pause_reason == "operator wrote from the phone"
    assert paused.paused_at(NOW) and not paused.paused_at(until)
    stored = await db.contacts.get(ANA)
    assert stored is not None and stored.paused_until == until
    unpaused = await db.contacts.unpause(ANA)
    assert unpaused is not None and unpaused.paused_until is None and unpaused.pause_reason is None
    assert await db.contacts.unpause("nobody@c.us") is None


async def test_a_pause_only_moves_later(db: Database) -> None:
    takeover = NOW + timedelta(minutes=30)
    await db.contacts.pause(ANA, takeover, "operator wrote from the phone")
    kept = await db.contacts.pause(ANA, NOW + timedelta(minutes=5), "flood")
    assert (kept.paused_until, kept.pause_reason) == (takeover, "operator wrote from the phone")
    longer = await db.contacts.pause(ANA, takeover + timedelta(minutes=1), "operator wrote again")
    assert (longer.paused_until, longer.pause_reason) == (takeover + timedelta(minutes=1), "operator wrote again")
    await db.contacts.unpause(ANA)
    shorter = await db.contacts.pause(ANA, NOW + timedelta(minutes=5), "flood")
    assert shorter.pause_reason == "flood"


async def test_a_pause_needs_an_aware_time(db: Database) -> None:
    with pytest.raises(ValueError, match="aware"):
        await db.contacts.pause(ANA, datetime(2026, 1, 1), "naive")  # noqa: DTZ001


async def test_set_flags_changes_only_what_is_given(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    contact = await db.contacts.set_flags(ANA, auto_reply=False, priority=5)
    assert (contact.blocked, contact.auto_reply, contact.priority, contact.push_name) == (False, False, 5, "Ana")
    contact = await db.contacts.set_flags(ANA, blocked=True)
    assert (contact.blocked, contact.auto_reply, contact.priority) == (True, False, 5)
    # A number can be blocked before it ever writes.
    stranger = await db.contacts.set_flags("15559990000@c.us", blocked=True)
    assert stranger.phone == "15559990000" and stranger.blocked


async def test_save_keeps_the_flags_and_an_ended_pause_is_not_stored(db: Database) -> None:
    contact = Contact(id=ANA, phone="15551234567", priority=2, auto_reply=False, paused_until=None)
    await db.contacts.save(contact)
    stored = await db.contacts.get(ANA)
    assert stored is not None and (stored.priority, stored.auto_reply, stored.paused_until) == (2, False, None)


async def test_documents_from_before_the_flags_read_with_defaults(db: Database) -> None:
    await db.contacts._collection.insert_one({"_id": ANA, "phone": "15551234567", "created_at": NOW})
    contact = await db.contacts.get(ANA)
    assert contact is not None
    assert (contact.blocked, contact.auto_reply, contact.priority, contact.paused_until) == (False, True, 0, None)


async def test_priorities_of_contacts_that_have_one(db: Database) -> None:
    await db.contacts.seen("a@c.us", phone="1", push_name=None)
    await db.contacts.set_flags("b@c.us", priority=5)
    assert await db.contacts.priorities(["a@c.us", "b@c.us", "unknown@c.us"]) == {"b@c.us": 5}
