"""The inbox stores first, drops duplicates by WhatsApp id, queues the rest per contact, and keeps messages in
a bounded buffer while the database is down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from loguru import logger

from bot.pipeline import Inbox, KeyedWorkQueue
from bot.pipeline.policy import AnswerRules
from bot.storage import Database, MessageStatus
from bot.storage.health import StorageHealth
from bot.whatsapp import IncomingMessage

from ..storage_faults import FlakyProxy, Outage
from ..waiting import wait_until
from .conftest import RecordingChat

OWN = "15550000000"
SELF_CHAT = f"{OWN}@c.us"


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


async def test_an_unknown_number_becomes_a_contact_with_the_default_persona_and_is_counted(db: Database) -> None:
    queue = recording_queue(db, [])
    inbox = Inbox(db, queue, StorageHealth(db), default_persona="assistant")
    await inbox.receive(incoming("W1"))
    await inbox.receive(incoming("W2", "again"))
    assert await queue.join(timeout_s=5)
    contact = await db.contacts.get("15551234567@c.us")
    assert contact is not None and contact.persona == "assistant"
    assert contact.message_count == 2 and contact.last_message_at is not None
    # The operator's choice of persona is kept when they write again.
    await db.contacts.set_persona(contact.id, "support")
    await inbox.receive(incoming("W3", "third"))
    assert await queue.join(timeout_s=5)
    assert (await db.contacts.get(contact.id)).persona == "support"  # type: ignore[union-attr]


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


def own(wa_id: str, text: str, *, chat: str = SELF_CHAT) -> IncomingMessage:
    """The account's own message: in its "message yourself" chat unless another chat is given."""
    phone = chat.partition("@")[0]
    return IncomingMessage(
        wa_id=wa_id,
        chat_id=chat,
        phone=phone,
        text=text,
        sent_at=datetime.now(UTC),
        from_me=True,
        to_self=chat == SELF_CHAT,
    )


@dataclass
class RecordingCommands:
    ran: list[str] = field(default_factory=list)

    async def run(self, text: str) -> str:
        self.ran.append(text)
        return f"done: {text}"


def command_inbox(db: Database, chat: RecordingChat, commands: RecordingCommands) -> Inbox:
    queue = recording_queue(db, [])
    rules = AnswerRules(takeover_pause_s=600)
    return Inbox(db, queue, StorageHealth(db), rules=rules, commands=commands, chat=chat)


async def test_an_operator_command_is_run_and_answered_in_the_self_chat(db: Database, chat: RecordingChat) -> None:
    commands = RecordingCommands()
    inbox = command_inbox(db, chat, commands)
    assert await inbox.receive(own("C1", "  /pause 15551234567 30 ")) is None
    await wait_until(lambda: chat.sent, timeout_s=5)
    assert commands.ran == ["/pause 15551234567 30"]
    assert chat.sent == [(SELF_CHAT, "done: /pause 15551234567 30")]
    # The command is not a message of anyone's conversation, and the self chat is nobody to pause.
    assert await db.messages.for_contact(SELF_CHAT) == []
    assert await db.contacts.get(SELF_CHAT) is None
    await inbox.close()


async def test_everything_else_in_the_self_chat_is_left_alone(db: Database, chat: RecordingChat) -> None:
    commands = RecordingCommands()
    inbox = command_inbox(db, chat, commands)
    for wa_id, text in [("N1", "remember the milk"), ("N2", "done: /status"), ("N3", "ALERT: WhatsApp is down")]:
        assert await inbox.receive(own(wa_id, text)) is None
    # Written by the account, but not as itself (a contact cannot write into the self chat): not a command.
    stray = IncomingMessage(
        wa_id="N4", chat_id=SELF_CHAT, phone=OWN, text="/status", sent_at=datetime.now(UTC), to_self=True
    )
    assert await inbox.receive(stray) is None
    assert commands.ran == [] and chat.sent == []
    assert await db.messages.for_contact(SELF_CHAT) == []
    assert await db.contacts.get(SELF_CHAT) is None  # not paused for a takeover either
    await inbox.close()


async def test_a_contact_writing_a_command_is_an_ordinary_message(db: Database, chat: RecordingChat) -> None:
    commands = RecordingCommands()
    seen: list[tuple[str, MessageStatus | None]] = []
    queue = recording_queue(db, seen)
    inbox = Inbox(db, queue, StorageHealth(db), commands=commands, chat=chat)
    assert await inbox.receive(incoming("W1", "/pause 15551234567")) is not None
    assert await queue.join(timeout_s=5)
    assert [wa_id for wa_id, _ in seen] == ["W1"] and commands.ran == []


async def test_a_command_typed_in_a_contacts_chat_is_the_operator_taking_over(
    db: Database, chat: RecordingChat
) -> None:
    commands = RecordingCommands()
    inbox = command_inbox(db, chat, commands)
    assert await inbox.receive(own("T1", "/status", chat="15551234567@c.us")) is None
    assert commands.ran == [] and chat.sent == []
    contact = await db.contacts.get("15551234567@c.us")
    assert contact is not None and contact.paused_until is not None


async def test_an_answer_that_cannot_be_sent_is_logged_not_raised(db: Database, chat: RecordingChat) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.rstrip("\n")), level="WARNING", format="{level} {message}")
    try:
        commands = RecordingCommands()
        chat.fail_sending = True
        inbox = command_inbox(db, chat, commands)
        assert await inbox.receive(own("C1", "/status")) is None
        assert await inbox.receive(own("C2", "/help")) is None
        assert commands.ran == ["/status", "/help"]  # run in order, each one as it came
        await wait_until(lambda: len(lines) == 2, timeout_s=5)
        assert all(line.startswith("WARNING could not answer the operator's command") for line in lines), lines
        await inbox.close()
    finally:
        logger.remove(sink)
