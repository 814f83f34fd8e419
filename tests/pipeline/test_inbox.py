"""The inbox stores first, drops duplicates by WhatsApp id, and queues the rest per contact."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline import Inbox, KeyedWorkQueue
from bot.storage import Database, Message, MessageStatus
from bot.whatsapp import IncomingMessage


def incoming(wa_id: str, text: str = "hi", phone: str = "15551234567") -> IncomingMessage:
    return IncomingMessage(
        wa_id=wa_id, chat_id=f"{phone}@c.us", phone=phone, push_name="Ana", text=text, sent_at=datetime.now(UTC)
    )


async def test_message_is_stored_before_it_is_handled(db: Database) -> None:
    seen_in_store: list[MessageStatus | None] = []

    async def handle(message: Message) -> None:
        stored = await db.messages.get(message.id)
        seen_in_store.append(stored.status if stored else None)

    queue: KeyedWorkQueue[Message] = KeyedWorkQueue(handle, max_concurrent=4)
    stored = await Inbox(db, queue).receive(incoming("W1"))
    assert await queue.drain(timeout_s=5)
    assert stored is not None
    assert seen_in_store == [MessageStatus.RECEIVED]
    contact = await db.contacts.get("15551234567@c.us")
    assert contact is not None and contact.push_name == "Ana" and contact.phone == "15551234567"


async def test_duplicate_delivery_is_dropped(db: Database) -> None:
    handled: list[str] = []

    async def handle(message: Message) -> None:
        handled.append(message.wa_id or "")

    queue: KeyedWorkQueue[Message] = KeyedWorkQueue(handle, max_concurrent=4)
    inbox = Inbox(db, queue)
    assert await inbox.receive(incoming("W1")) is not None
    assert await inbox.receive(incoming("W1")) is None
    assert await inbox.receive(incoming("W2", "again")) is not None
    assert await queue.drain(timeout_s=5)
    assert handled == ["W1", "W2"]
    assert len(await db.messages.for_contact("15551234567@c.us")) == 2
