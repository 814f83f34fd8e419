"""The conversation worker takes each message through its stored states, and resumes any state a crash, a stop
or an outage left, with at most one reply per message. Real storage code; WhatsApp and the model stand in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.pipeline import ConversationWorker, Outbox
from bot.pipeline.context import ContextRules, ContextSource
from bot.pipeline.policy import AnswerRules
from bot.pipeline.traffic import Traffic, TrafficRules
from bot.resilience import BreakerState, CircuitBreaker
from bot.storage import Database, Direction, Message, MessageStatus, utc_now
from bot.storage.health import StorageHealth
from bot.whatsapp.events import new_message_id

from ..storage_faults import FlakyProxy, Outage
from .conftest import EchoResponder, RecordingChat

MAX_AGE = timedelta(hours=12)


def worker(
    db: Database,
    responder: EchoResponder,
    chat: RecordingChat,
    *,
    stale: list[Message] | None = None,
    rules: AnswerRules | None = None,
    traffic: Traffic | None = None,
    owed: list[bool] | None = None,
) -> ConversationWorker:
    return ConversationWorker(
        db,
        responder,
        Outbox(db, chat),
        chat,
        context=ContextSource(db, rules=ContextRules(history_limit=10)),
        default_persona="default",
        max_age=MAX_AGE,
        rules=rules,
        traffic=traffic,
        health=StorageHealth(db),
        on_stale=stale.append if stale is not None else None,
        on_owed=(lambda: owed.append(True)) if owed is not None else None,
    )


async def receive(
    db: Database, wa_id: str, contact_id: str, text: str, *, age: timedelta = timedelta(0), kind: str = "chat"
) -> Message:
    await db.contacts.seen(contact_id, phone=contact_id.partition("@")[0], push_name=None)
    stored = await db.messages.add_inbound(
        wa_id=wa_id, contact_id=contact_id, text=text, kind=kind, wa_time=datetime.now(UTC) - age
    )
    assert stored is not None
    return stored


async def states(db: Database, contact_id: str) -> list[tuple[Direction, MessageStatus]]:
    return [(m.direction, m.status) for m in await db.messages.for_contact(contact_id)]


ANSWERED_ONCE = [(Direction.INBOUND, MessageStatus.SENT), (Direction.OUTBOUND, MessageStatus.SENT)]


async def crashed_with_reply(
    db: Database, inbound: Message, text: str, *, sent_through: RecordingChat | None = None
) -> tuple[Message, str | None]:
    """A process took `inbound`'s turn, stored `text` as its reply and (with `sent_through`) sent it, then died."""
    turn = await db.messages.take_turn(inbound.contact_id)
    assert [m.id for m in turn] == [inbound.id]
    [reply] = await db.messages.store_reply(turn, [(text, new_message_id())])
    if sent_through is None:
        return reply, None
    assert reply.wa_key is not None
    return reply, await sent_through.send_text(inbound.contact_id, text, message_id=reply.wa_key)


async def test_reply_is_stored_with_its_id_before_it_is_sent_and_read_comes_last(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello there")
    await worker(db, responder, chat)(inbound.contact_id)

    assert chat.sent == [("ana@c.us", "echo: hello there")]
    assert chat.read == [("ana@c.us", "W1")] and chat.typing == ["ana@c.us"]
    answered = await db.messages.get(inbound.id)
    assert answered is not None and (answered.status, answered.attempts) == (MessageStatus.SENT, 1)
    reply = await db.messages.get(answered.reply_id or "")
    assert reply is not None and reply.wa_key is not None
    assert (reply.direction, reply.status, reply.in_reply_to) == (Direction.OUTBOUND, MessageStatus.SENT, inbound.id)
    assert reply.wa_id == f"true_ana@c.us_{reply.wa_key}"  # sent with the id chosen before sending


async def test_prompt_holds_only_this_contacts_words(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    handle = worker(db, responder, chat)
    await handle((await receive(db, "A1", "ana@c.us", "ana-secret-apple")).contact_id)
    await handle((await receive(db, "B1", "ben@c.us", "ben-secret-banana")).contact_id)
    await handle((await receive(db, "A2", "ana@c.us", "ana again")).contact_id)

    last_for_ana = responder.prompts[-1]
    words = last_for_ana.system_instruction + " ".join(turn.text for turn in last_for_ana.turns)
    assert "ana-secret-apple" in words and "echo: ana-secret-apple" in words
    assert "banana" not in words


async def test_refused_send_is_recorded_failed_and_left_unread(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    chat.fail_sending = True
    await worker(db, responder, chat)(inbound.contact_id)
    assert chat.read == []  # the operator's phone still shows it unread
    messages = await db.messages.for_contact("ana@c.us")
    assert [(m.direction, m.status) for m in messages] == [
        (Direction.INBOUND, MessageStatus.FAILED),
        (Direction.OUTBOUND, MessageStatus.FAILED),
    ]
    assert "disconnected" in (messages[0].error or "") and "disconnected" in (messages[1].error or "")


async def test_a_settled_message_queued_again_is_left_alone(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    handle = worker(db, responder, chat)
    await handle(inbound.contact_id)
    await handle(inbound.contact_id)
    assert len(chat.sent) == 1 and len(responder.prompts) == 1


async def test_crash_while_the_model_was_thinking_is_answered_once_on_resume(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    assert await db.messages.take_turn("ana@c.us") != []  # the dead process had taken it: `answering`
    await worker(db, responder, chat)(inbound.contact_id)
    assert chat.sent == [("ana@c.us", "echo: hello")]
    answered = await db.messages.get(inbound.id)
    assert answered is not None and (answered.status, answered.attempts) == (MessageStatus.SENT, 2)


async def test_crash_between_sent_and_recorded_sends_nothing_more(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    await crashed_with_reply(db, inbound, "the first answer", sent_through=chat)  # went out; then kill -9

    await worker(db, responder, chat)(inbound.contact_id)

    assert chat.sent == [("ana@c.us", "the first answer")]  # not twice
    assert responder.prompts == []  # and no new answer asked for
    assert await states(db, "ana@c.us") == ANSWERED_ONCE
    assert chat.read == [("ana@c.us", "W1")]


async def test_crash_between_recording_the_reply_and_its_message_sends_nothing_more(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    reply, wa_id = await crashed_with_reply(db, inbound, "the first answer", sent_through=chat)
    # The reply's own record was written; the database went away before the message's.
    assert wa_id is not None
    await db.messages._move(reply.id, (MessageStatus.PENDING,), MessageStatus.SENT, wa_id=wa_id)

    await worker(db, responder, chat)(inbound.contact_id)

    assert chat.sent == [("ana@c.us", "the first answer")] and responder.prompts == []
    assert await states(db, "ana@c.us") == ANSWERED_ONCE


async def test_crash_after_storing_the_reply_sends_the_stored_one(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    await crashed_with_reply(db, inbound, "the stored answer")

    await worker(db, responder, chat)(inbound.contact_id)

    assert chat.sent == [("ana@c.us", "the stored answer")]
    assert responder.prompts == []
    assert await states(db, "ana@c.us") == ANSWERED_ONCE


async def test_old_messages_go_stale_are_reported_and_never_answered(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    old = await receive(db, "W1", "ana@c.us", "are you open on Sunday?", age=timedelta(days=3))
    stale: list[Message] = []
    await worker(db, responder, chat, stale=stale)(old.contact_id)
    assert chat.sent == [] and chat.read == [] and responder.prompts == []
    stored = await db.messages.get(old.id)
    assert stored is not None and stored.status is MessageStatus.STALE and "older than 12 h" in (stored.reason or "")
    assert [m.id for m in stale] == [old.id]


async def test_an_old_message_whose_reply_went_out_is_recorded_answered_not_stale(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    old = await receive(db, "W1", "ana@c.us", "hello", age=timedelta(days=3))
    await crashed_with_reply(db, old, "answer", sent_through=chat)
    stale: list[Message] = []

    await worker(db, responder, chat, stale=stale)(old.contact_id)

    assert stale == [] and len(chat.sent) == 1
    assert await states(db, "ana@c.us") == ANSWERED_ONCE


async def test_media_gets_one_polite_answer_without_the_model_or_is_skipped_per_setting(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    await receive(db, "W1", "ana@c.us", "", kind="ptt")
    await receive(db, "W2", "ana@c.us", "", kind="sticker")
    await worker(db, responder, chat)("ana@c.us")
    assert chat.sent == [("ana@c.us", AnswerRules().media_reply)] and responder.prompts == []

    voice = await receive(db, "W3", "ben@c.us", "", kind="ptt")
    await worker(db, responder, chat, rules=AnswerRules(media_policy="skip"))("ben@c.us")
    stored = await db.messages.get(voice.id)
    assert stored is not None and stored.status is MessageStatus.SKIPPED and "ptt" in (stored.reason or "")
    assert chat.read == [("ana@c.us", "W1")] and len(chat.sent) == 1  # the sticker and ben's are left unread


async def test_a_caption_is_answered_like_a_text(db: Database, responder: EchoResponder, chat: RecordingChat) -> None:
    await receive(db, "W1", "ana@c.us", "is this the right part?", kind="image")
    await worker(db, responder, chat)("ana@c.us")
    assert len(responder.prompts) == 1 and "is this the right part?" in responder.prompts[0].turns[-1].text
    assert len(chat.sent) == 1


async def test_messages_written_together_get_one_reply(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    for number, text in enumerate(["hi", "quick question", "do you open on Sunday?"]):
        await receive(db, f"W{number}", "ana@c.us", text)
    await worker(db, responder, chat)("ana@c.us")
    [(_, reply)] = chat.sent
    assert all(text in reply for text in ["hi", "quick question", "do you open on Sunday?"])
    assert {m.status for m in await db.messages.for_contact("ana@c.us") if m.direction is Direction.INBOUND} == {
        MessageStatus.SENT
    }
    assert chat.read == [("ana@c.us", "W2")]


async def test_who_is_not_answered(db: Database, responder: EchoResponder, chat: RecordingChat) -> None:
    await db.contacts.set_flags("blocked@c.us", blocked=True)
    await db.contacts.pause("paused@c.us", utc_now() + timedelta(minutes=5), "the operator wrote from the phone")
    for contact_id in ("blocked@c.us", "paused@c.us"):
        await receive(db, f"W-{contact_id}", contact_id, "hello?")
        await worker(db, responder, chat)(contact_id)
    group = await db.messages.add_inbound(
        wa_id="G1", contact_id="123-456@g.us", text="hi all", wa_time=utc_now(), is_group=True, author="ana@c.us"
    )
    assert group is not None
    await worker(db, responder, chat)("123-456@g.us")
    assert chat.sent == [] and responder.prompts == []
    for contact_id in ("blocked@c.us", "paused@c.us", "123-456@g.us"):
        [stored] = await db.messages.for_contact(contact_id)
        assert stored.status is MessageStatus.SKIPPED and stored.reason, contact_id


async def test_a_flooding_contact_gets_one_notice_and_is_paused(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    traffic = Traffic(TrafficRules(quiet_s=0, hard_per_minute=5))
    for number in range(8):
        await receive(db, f"W{number}", "ana@c.us", f"spam {number}")
        traffic.arrived("ana@c.us")
    handle = worker(db, responder, chat, traffic=traffic)
    await handle("ana@c.us")
    await receive(db, "W9", "ana@c.us", "more spam")
    await handle("ana@c.us")
    assert len(chat.sent) == 1 and responder.prompts == []  # the notice, and no model call
    contact = await db.contacts.get("ana@c.us")
    assert contact is not None and contact.paused_at(utc_now())
    last = (await db.messages.for_contact("ana@c.us"))[-1]
    assert last.text == "more spam" and last.status is MessageStatus.SKIPPED


async def test_a_fallback_answer_is_stored_as_such(db: Database, chat: RecordingChat) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    await worker(db, EchoResponder(fallback=True), chat)(inbound.contact_id)
    stored = await db.messages.get(inbound.id)
    assert stored is not None and stored.status is MessageStatus.FALLBACK
    reply = await db.messages.get(stored.reply_id or "")
    assert reply is not None and reply.fallback and reply.status is MessageStatus.SENT
    assert reply.error == "HTTP 503 UNAVAILABLE"  # why the model could not answer


async def test_database_outage_before_the_reply_is_stored_sends_nothing_and_resumes(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    outage = Outage()
    flaky = Database(FlakyProxy(db._client, outage), db._db.name, in_memory=db.in_memory)

    class DownAfterThinking(EchoResponder):
        async def reply(self, prompt):  # type: ignore[no-untyped-def]
            answer = await super().reply(prompt)
            if len(self.prompts) == 1:
                outage.down = True  # the database goes away while the model thinks, the first time
            return answer

    health = StorageHealth(flaky, retry_initial_s=0.01, retry_max_s=0.05)
    handle = ConversationWorker(
        flaky,
        DownAfterThinking(),
        Outbox(flaky, chat),
        chat,
        context=ContextSource(flaky, rules=ContextRules(history_limit=10)),
        default_persona="default",
        max_age=MAX_AGE,
        health=health,
    )
    await handle(inbound.contact_id)
    assert chat.sent == []  # the reply could not be recorded, so it was not sent
    assert not health.up and outage.refused >= 1

    outage.down = False
    await health.wait_up()
    await handle(inbound.contact_id)
    assert chat.sent == [("ana@c.us", "echo: hello")]
    await health.close()


async def test_acks_move_the_reply_and_its_message_forward_only(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    inbound = await receive(db, "W1", "ana@c.us", "hello")
    await worker(db, responder, chat)(inbound.contact_id)
    reply = (await db.messages.for_contact("ana@c.us"))[1]
    assert reply.wa_id is not None

    assert await db.messages.record_ack([reply.wa_id], 2) == 1
    assert (await states(db, "ana@c.us")) == [
        (Direction.INBOUND, MessageStatus.DELIVERED),
        (Direction.OUTBOUND, MessageStatus.DELIVERED),
    ]
    assert await db.messages.record_ack([reply.wa_id], 3) == 1
    assert await db.messages.record_ack([reply.wa_id], 2) == 0  # late "delivered" after "read"
    assert (await states(db, "ana@c.us")) == [
        (Direction.INBOUND, MessageStatus.READ),
        (Direction.OUTBOUND, MessageStatus.READ),
    ]


async def test_one_fallback_per_contact_per_outage_then_one_real_answer_for_all_it_covered(
    db: Database, chat: RecordingChat
) -> None:
    model = EchoResponder(fallback=True)
    owed: list[bool] = []
    handle = worker(db, model, chat, owed=owed)
    await receive(db, "A1", "ana@c.us", "first question")
    await handle("ana@c.us")
    await receive(db, "A2", "ana@c.us", "second question")
    await handle("ana@c.us")
    assert [text for _, text in chat.sent] == ["sorry, later"]  # once for ana, not per message
    assert {m.status for m in await db.messages.for_contact("ana@c.us")} == {MessageStatus.FALLBACK, MessageStatus.SENT}

    model.fallback = False  # the model is back: ben's answer is the first real one
    await receive(db, "B1", "ben@c.us", "hello")
    await handle("ben@c.us")
    assert owed == [True]  # the application then queues the contacts owed an answer
    await handle("ana@c.us")
    ana = [text for chat_id, text in chat.sent if chat_id == "ana@c.us"]
    assert len(ana) == 2 and "first question" in ana[1] and "second question" in ana[1]
    inbound = [m for m in await db.messages.for_contact("ana@c.us") if m.direction is Direction.INBOUND]
    assert {m.status for m in inbound} == {MessageStatus.SENT}


async def test_a_turn_is_the_newest_user_turn_even_if_a_reply_went_out_after_its_first_message(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    await receive(db, "W0", "ana@c.us", "m0")
    [first] = await db.messages.take_turn("ana@c.us")
    await receive(db, "W1", "ana@c.us", "m1")  # arrives while m0 is being answered
    handle = worker(db, responder, chat)
    parts = await db.messages.store_reply([first], [("answer to m0", new_message_id())])
    await Outbox(db, chat).send([first], parts)
    await receive(db, "W2", "ana@c.us", "m2")
    await handle("ana@c.us")
    prompt = responder.prompts[-1]
    assert [turn.role for turn in prompt.turns] == ["user", "model", "user"]
    assert prompt.turns[-1].text.split("\n") == ["m1", "m2"]


async def test_sending_refused_again_and_again_pauses_and_the_held_replies_go_out_once_later(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    now = [0.0]
    breaker = CircuitBreaker("send", failures=2, window_s=60, open_s=30, clock=lambda: now[0])
    handle = ConversationWorker(
        db,
        responder,
        Outbox(db, chat, breaker=breaker),
        chat,
        context=ContextSource(db, rules=ContextRules(history_limit=10)),
        default_persona="default",
        max_age=MAX_AGE,
    )
    chat.fail_sending = True
    for contact_id in ("a@c.us", "b@c.us", "c@c.us"):
        await receive(db, f"W-{contact_id}", contact_id, f"hello from {contact_id}")
        await handle(contact_id)
    assert breaker.state is BreakerState.OPEN
    assert [(await db.messages.for_contact(c))[0].status for c in ("a@c.us", "b@c.us")] == [MessageStatus.FAILED] * 2
    assert (await db.messages.for_contact("c@c.us"))[0].status is MessageStatus.REPLY_PENDING  # held, not failed

    chat.fail_sending = False
    now[0] = 31.0  # due for the probe
    await handle("c@c.us")
    assert chat.sent == [("c@c.us", "echo: hello from c@c.us")] and breaker.state is BreakerState.CLOSED
    assert (await db.messages.for_contact("c@c.us"))[0].status is MessageStatus.SENT


async def test_a_poisoned_message_fails_with_its_error_and_the_next_is_answered(
    db: Database, chat: RecordingChat
) -> None:
    class Choking(EchoResponder):
        async def reply(self, prompt):  # type: ignore[no-untyped-def]
            if "poison" in prompt.turns[-1].text:
                raise ValueError("the model client choked on this text")
            return await super().reply(prompt)

    handle = worker(db, Choking(), chat)
    poisoned = await receive(db, "W1", "ana@c.us", "poison pill")
    await handle("ana@c.us")
    await receive(db, "W2", "ana@c.us", "a normal question")
    await handle("ana@c.us")
    stored = await db.messages.get(poisoned.id)
    assert stored is not None and stored.status is MessageStatus.FAILED and "choked" in (stored.error or "")
    assert chat.sent == [("ana@c.us", "echo: a normal question")]


async def test_a_receipt_that_comes_before_the_reply_is_recorded_is_not_lost(
    db: Database, responder: EchoResponder, chat: RecordingChat
) -> None:
    await receive(db, "W1", "ana@c.us", "hello")
    turn = await db.messages.take_turn("ana@c.us")
    [part] = await db.messages.store_reply(turn, [("hi!", "3EB0EEEEEEEEEEEEEEEE")])
    wa_id = "true_ana@c.us_3EB0EEEEEEEEEEEEEEEE"
    await db.messages.record_ack([wa_id], 2)  # WhatsApp's receipt, before send_text has returned
    await db.messages.part_sent(part, wa_id=wa_id)
    await db.messages.turn_answered([part])
    assert await states(db, "ana@c.us") == [
        (Direction.INBOUND, MessageStatus.DELIVERED),
        (Direction.OUTBOUND, MessageStatus.DELIVERED),
    ]
