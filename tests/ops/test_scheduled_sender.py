"""Scheduled messages go out once when due, with their stored id; what a crash left `sending` is looked up
first; refused and too-late ones fail and the operator is told."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.ops.scheduled_sender import ScheduledSender
from bot.storage import Database, Direction, MessageStatus, utc_now
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus
from bot.whatsapp.client import own_message_key
from bot.whatsapp.page import PageRefused

TO = "15551234567@c.us"


class FakeChat:
    """WhatsApp as the sender sees it: sends are recorded; an id already in the chat is not sent again."""

    def __init__(self, *, refuse: str | None = None) -> None:
        self.sent: list[tuple[str, str, str, bool]] = []
        self.in_chat: set[str] = set()
        self.refuse = refuse

    async def send_text(self, chat_id: str, text: str, *, message_id: str, maybe_sent: bool = False) -> str:
        if self.refuse:
            raise PageRefused(self.refuse)
        key = own_message_key(chat_id, message_id)
        if not (maybe_sent and message_id in self.in_chat):
            self.sent.append((chat_id, text, message_id, maybe_sent))
            self.in_chat.add(message_id)
        return key

    async def find_sent(self, chat_id: str, message_id: str) -> str | None:
        return own_message_key(chat_id, message_id) if message_id in self.in_chat else None


class Notices:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def notice(self, key: str, text: str) -> None:
        self.texts.append(text)


def sender(db: Database, chat: FakeChat, notices: Notices | None = None) -> ScheduledSender:
    return ScheduledSender(db, chat, max_age=timedelta(hours=12), alerts=notices)  # type: ignore[arg-type]


async def schedule(db: Database, minutes: float, text: str = "see you tomorrow") -> ScheduledMessage:
    message = ScheduledMessage(to=TO, text=text, at=utc_now() + timedelta(minutes=minutes), message_id=f"3EB0{text}")
    return await db.scheduled.add(message)


async def status_of(db: Database, message: ScheduledMessage) -> ScheduledMessage:
    stored = await db.scheduled.get(message.id)
    assert stored is not None
    return stored


async def test_a_due_message_is_sent_once_with_its_stored_id_and_recorded(db: Database) -> None:
    chat = FakeChat()
    due = await schedule(db, -1)
    later = await schedule(db, 60, "not yet")
    send = sender(db, chat)
    assert await send.send_due() == 1
    assert await send.send_due() == 0
    assert chat.sent == [(TO, "see you tomorrow", "3EB0see you tomorrow", False)]
    stored = await status_of(db, due)
    assert stored.status is ScheduledStatus.SENT and stored.wa_id == own_message_key(TO, due.message_id)
    assert (await status_of(db, later)).status is ScheduledStatus.PENDING
    # Recorded as the bot's own message: its echo is no takeover, and the model sees it in the conversation.
    [record] = await db.messages.for_contact(TO)
    assert (record.direction, record.status, record.wa_key) == (Direction.OUTBOUND, MessageStatus.SENT, due.message_id)
    assert await db.messages.sent_by_bot(own_message_key(TO, due.message_id))


async def test_one_left_sending_by_a_crash_is_looked_up_and_not_sent_twice(db: Database) -> None:
    chat = FakeChat()
    went_out = await schedule(db, -2, "went out before the crash")
    never_left = await schedule(db, -1, "never left")
    await db.scheduled.claim_due(utc_now())
    await db.scheduled.claim_due(utc_now())  # both claimed by a run that died mid-send
    chat.in_chat.add(went_out.message_id)

    assert await sender(db, chat).send_due() == 2
    assert chat.sent == [(TO, "never left", never_left.message_id, True)]
    for message in (went_out, never_left):
        stored = await status_of(db, message)
        assert stored.status is ScheduledStatus.SENT and stored.attempts == 2


async def test_a_refused_message_fails_and_the_operator_is_told(db: Database) -> None:
    notices = Notices()
    message = await schedule(db, -1)
    assert await sender(db, FakeChat(refuse="not a WhatsApp number"), notices).send_due() == 1
    stored = await status_of(db, message)
    assert stored.status is ScheduledStatus.FAILED and "not a WhatsApp number" in (stored.error or "")
    [record] = await db.messages.for_contact(TO)
    assert record.status is MessageStatus.FAILED
    assert len(notices.texts) == 1 and message.id in notices.texts[0]


@pytest.mark.parametrize("was_sending", [False, True])
async def test_a_message_found_long_after_its_time_is_not_sent_that_late(db: Database, was_sending: bool) -> None:
    chat, notices = FakeChat(), Notices()
    message = await schedule(db, -13 * 60)
    if was_sending:
        await db.scheduled.claim_due(utc_now())
    await sender(db, chat, notices).send_due()
    assert chat.sent == []
    stored = await status_of(db, message)
    assert stored.status is ScheduledStatus.FAILED and (stored.error or "").startswith("missed")
    assert len(notices.texts) == 1 and "not sent" in notices.texts[0]


async def test_a_late_one_that_had_gone_out_before_the_crash_is_recorded_as_sent(db: Database) -> None:
    chat, notices = FakeChat(), Notices()
    message = await schedule(db, -13 * 60)
    await db.scheduled.claim_due(utc_now())
    chat.in_chat.add(message.message_id)
    await sender(db, chat, notices).send_due()
    assert chat.sent == [] and notices.texts == []
    assert (await status_of(db, message)).status is ScheduledStatus.SENT


async def test_cancelled_messages_are_not_sent(db: Database) -> None:
    chat = FakeChat()
    message = await schedule(db, -1)
    await db.scheduled.cancel(message.id)
    assert await sender(db, chat).send_due() == 0
    assert chat.sent == []
