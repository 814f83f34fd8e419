"""The conversation worker: prompt from this contact's history, reply sent, both messages linked."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.pipeline import ConversationWorker, Outbox
from bot.storage import Database, Direction, Message, MessageStatus

NOW = datetime.now(UTC)


def worker(db: Database, responder: object, chat: object) -> ConversationWorker:
    return ConversationWorker(
        db,
        responder,
        Outbox(db, chat),
        chat,
        default_persona="default",
        history_limit=10,  # type: ignore[arg-type]
    )


async def receive(db: Database, wa_id: str, contact_id: str, text: str) -> Message:
    await db.contacts.seen(contact_id, phone=contact_id.partition("@")[0], push_name=None)
    stored = await db.messages.add_inbound(wa_id=wa_id, contact_id=contact_id, text=text, wa_time=NOW)
    assert stored is not None
    return stored


async def test_reply_is_sent_stored_and_linked(db, responder, chat) -> None:  # type: ignore[no-untyped-def]
    inbound = await receive(db, "W1", "ana@c.us", "hello there")
    await worker(db, responder, chat)(inbound)

    assert chat.read == [("ana@c.us", "W1")] and chat.typing == ["ana@c.us"]
    assert chat.sent == [("ana@c.us", "echo: hello there")]
    answered = await db.messages.get(inbound.id)
    assert answered is not None and answered.status is MessageStatus.REPLIED
    reply = await db.messages.get(answered.reply_id or "")
    assert reply is not None
    assert (reply.direction, reply.status, reply.in_reply_to) == (Direction.OUTBOUND, MessageStatus.SENT, inbound.id)
    assert reply.wa_id == "true_ana@c.us_SENT1"


async def test_prompt_holds_only_this_contacts_words(db, responder, chat) -> None:  # type: ignore[no-untyped-def]
    handle = worker(db, responder, chat)
    await handle(await receive(db, "A1", "ana@c.us", "ana-secret-apple"))
    await handle(await receive(db, "B1", "ben@c.us", "ben-secret-banana"))
    await handle(await receive(db, "A2", "ana@c.us", "ana again"))

    last_for_ana = responder.prompts[-1]
    words = last_for_ana.system_instruction + " ".join(turn.text for turn in last_for_ana.turns)
    assert "ana-secret-apple" in words and "echo: ana-secret-apple" in words
    assert "banana" not in words


async def test_failed_send_is_recorded_and_message_stays_unanswered_and_unread(db, responder, chat) -> None:  # type: ignore[no-untyped-def]
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    chat.fail_sending = True
    await worker(db, responder, chat)(inbound)
    assert chat.read == []  # left unread on WhatsApp, so it is found again after a restart
    messages = await db.messages.for_contact("ana@c.us")
    assert [(m.direction, m.status) for m in messages] == [
        (Direction.INBOUND, MessageStatus.RECEIVED),
        (Direction.OUTBOUND, MessageStatus.FAILED),
    ]
    assert "disconnected" in (messages[1].error or "")
