"""The contact repository: first contact, the operator's flags and pauses (in memory, or TEST_MONGODB_URI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import Contact, Database
from bot.storage.models import ContactStyle

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


async def test_seen_counts_messages_and_gives_a_new_contact_the_default_persona(db: Database) -> None:
    first = await db.contacts.seen(ANA, phone="15551234567", push_name="Ana", persona="assistant")
    assert (first.message_count, first.persona, first.lid) == (1, "assistant", None)
    assert first.last_message_at is not None
    await db.contacts.set_persona(ANA, "support")
    second = await db.contacts.seen(ANA, phone="15551234567", push_name="Ana", persona="assistant")
    assert (second.message_count, second.persona) == (2, "support")
    assert second.last_message_at is not None and second.last_message_at >= first.last_message_at
    linked = await db.contacts.seen("98765432109876@lid", phone="98765432109876", push_name=None)
    assert linked.lid == "98765432109876@lid" and linked.persona is None


async def test_list_filters_by_tag_and_relationship(db: Database) -> None:
    await db.contacts.update(ANA, relationship="family", tags=["vip", "kids"])
    await db.contacts.update("15557654321@c.us", relationship="client", tags=["vip"])
    await db.contacts.update("15559876543@c.us", relationship="colleague")
    assert [contact.name for contact in await db.contacts.list()] == [None, None, None]
    assert [contact.id for contact in await db.contacts.list(tag="vip")] == [ANA, "15557654321@c.us"]
    assert [contact.id for contact in await db.contacts.list(relationship="client")] == ["15557654321@c.us"]
    assert [contact.id for contact in await db.contacts.list(tag="vip", relationship="family")] == [ANA]
    with pytest.raises(ValueError):
        await db.contacts.list(relationship="sister")


@pytest.mark.parametrize("written", ["+15551234567", "15551234567", "+1 (555) 123-4567", ANA, " 15551234567 "])
async def test_find_by_number_or_chat_id(db: Database, written: str) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    found = await db.contacts.find(written)
    assert found is not None and found.id == ANA


async def test_find_by_lid_and_unknown_numbers(db: Database) -> None:
    await db.contacts.save(Contact(id=ANA, phone="15551234567", lid="12345@lid"))
    found = await db.contacts.find("12345@lid")
    assert found is not None and found.id == ANA
    assert await db.contacts.find("+15550000000") is None
    assert await db.contacts.find("not a number") is None


async def test_update_validates_creates_and_keeps_what_the_bot_counted(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await db.contacts.pause(ANA, NOW + timedelta(minutes=30), "flood")
    contact = await db.contacts.update(ANA, name="Ana Lopez", relationship="family", tags=["kids"], priority=3)
    assert (contact.name, contact.relationship, contact.tags, contact.priority) == ("Ana Lopez", "family", ["kids"], 3)
    assert (contact.message_count, contact.push_name, contact.pause_reason) == (1, "Ana", "flood")
    cleared = await db.contacts.update(ANA, name=None)
    assert cleared.name is None and cleared.relationship == "family"
    with pytest.raises(ValueError):
        await db.contacts.update(ANA, priority="high")
    with pytest.raises(ValueError, match="message_count"):
        await db.contacts.update(ANA, message_count=0)
    new = await db.contacts.update("15550001111@c.us", blocked=True)
    assert (new.phone, new.blocked, new.message_count) == ("15550001111", True, 0)


async def test_import_many_upserts_and_keeps_counters_style_and_pauses(db: Database) -> None:
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await db.contacts.set_style(ANA, ContactStyle(language="es", avg_chars=40.0, samples=3))
    await db.contacts.pause(ANA, NOW + timedelta(minutes=30), "operator wrote from the phone")
    await db.contacts.update(ANA, notes="old notes", instructions="in Spanish")
    counts = await db.contacts.import_many(
        [
            Contact(id=ANA, phone="15551234567", name="Ana", relationship="family", notes=None),
            Contact(id="15557654321@c.us", phone="15557654321", name="Ben", priority=2),
        ]
    )
    assert counts == (1, 1)
    ana = await db.contacts.get(ANA)
    assert ana is not None
    assert (ana.name, ana.relationship, ana.notes, ana.instructions) == ("Ana", "family", None, "in Spanish")
    assert ana.message_count == 1 and ana.style is not None and ana.style.language == "es"
    assert ana.paused_until == NOW + timedelta(minutes=30)
    ben = await db.contacts.get("15557654321@c.us")
    assert ben is not None and (ben.name, ben.priority, ben.auto_reply) == ("Ben", 2, True)


async def test_add_note_appends_lines_and_remove(db: Database) -> None:
    first = await db.contacts.add_note(ANA, "likes short answers")
    assert first.notes == "likes short answers" and first.phone == "15551234567"
    second = await db.contacts.add_note(ANA, "  birthday in May ")
    assert second.notes == "likes short answers\nbirthday in May"
    with pytest.raises(ValueError):
        await db.contacts.add_note(ANA, "  ")
    assert await db.contacts.remove(ANA) is True
    assert await db.contacts.get(ANA) is None
    assert await db.contacts.remove(ANA) is False
    # A style learned for a contact forgotten meanwhile does not bring them back.
    await db.contacts.set_style(ANA, ContactStyle(samples=1))
    assert await db.contacts.get(ANA) is None
