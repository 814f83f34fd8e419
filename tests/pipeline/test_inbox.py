"""The inbox stores first, drops duplicates by WhatsApp id, queues the rest per contact, and keeps messages in
a bounded buffer while the database is down."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline import Inbox, KeyedWorkQueue
from bot.storage import Database, MessageStatus
from bot.storage.health import StorageHealth
from bot.whatsapp import IncomingMessage

from ..storage_faults import FlakyProxy, Outage


def incoming(wa_id: str, text: str = "hi", phone: str = "15551234567") -> IncomingMessage:
    return IncomingMessage(
        wa_id=wa_id, chat_id=f"{phone}@c.us", phone=phone, push_name="Ana", text=text, sent_at=datetime.now(UTC)
    )


def recording_queue(db: Database, seen: list[tuple[str, MessageStatus | None]]) -> KeyedWorkQueue[str]:
    """A queue whose worker takes each contact's turn, noting what it found stored (and how) when it ran."""

    async def handle(contact_id: str) -> None:
        waiting = {m.id: m.status for m in await db.messages.for_contact(contact_id)}
        turn = await db.messages.take_turn(contact_id)
        for message in turn:
            seen.append((message.wa_id or "", waiting.get(message.id)))
        await db.messages.skip(turn, reason="seen by the test")

    return KeyedWorkQueue(handle, max_concurrent=4)


async def test_message_is_stored_before_it_is_handled(db: Database) -> None:
    seen: list[tuple[str, MessageStatus | None]] = []
    queue = recording_queue(db, seen)
    stored = await Inbox(db, queue, StorageHealth(db)).receive(incoming("W1"))
    assert await queue.join(timeout_s=5)
    assert stored is not None
    assert seen == [("W1", MessageStatus.RECEIVED)]
    contact = await db.contacts.get("15551234567@c.us")
    assert contact is not None and contact.push_name == "Ana" and contact.phone == "15551234567"


async def test_duplicate_delivery_is_dropped(db: Database) -> None:
    seen: list[tuple[str, MessageStatus | None]] = []
    queue = recording_queue(db, seen)
    inbox = Inbox(db, queue, StorageHealth(db))
    assert await inbox.receive(incoming("W1")) is not None
    assert await inbox.receive(incoming("W1")) is None
    assert await inbox.receive(incoming("W2", "again")) is not None
    assert await queue.join(timeout_s=5)
    assert sorted(wa_id for wa_id, _ in seen) == ["W1", "W2"]  # each once (together, or in two turns)
    assert len(await db.messages.for_contact("15551234567@c.us")) == 2


async def test_messages_wait_in_memory_while_the_database_is_down_and_are_stored_in_order(db: Database) -> None:
    outage = Outage()
    flaky = Database(FlakyProxy(db._client, outage), db._db.name, in_memory=True)
    health = StorageHealth(flaky, retry_initial_s=0.01, retry_max_s=0.05)
    seen: list[tuple[str, MessageStatus | None]] = []
    queue = recording_queue(flaky, seen)
    inbox = Inbox(flaky, queue, health, buffer_size=2)

    outage.down = True
    for wa_id in ("W1", "W2", "W3"):
        assert await inbox.receive(incoming(wa_id)) is None
    assert inbox.buffered == 2 and not health.up  # W3 did not fit: it stays unread on WhatsApp
    assert outage.refused >= 1

    outage.down = False
    await health.wait_up()
    assert await inbox.flush() == 2
    assert await queue.join(timeout_s=5)
    assert [wa_id for wa_id, _ in seen] == ["W1", "W2"]  # in arrival order
    # W3 comes back from WhatsApp's unread chats, like any message the bot did not hear.
    assert await inbox.receive(incoming("W3")) is not None
    assert await inbox.receive(incoming("W1")) is None
    assert await queue.join(timeout_s=5)
    assert [wa_id for wa_id, _ in seen] == ["W1", "W2", "W3"]
    await health.close()
