"""Traffic control end to end: bursts answered in order and within the global limit, a flood contained, who is
answered (groups, allowlist, the operator taking over), and bad input that never stops a worker."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.pipeline.policy import AnswerRules
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Direction, MessageStatus

from .conftest import (
    ANA,
    BEN,
    CARO,
    REPLY_TIMEOUT_S,
    StartWatched,
    assert_covered_once,
    has_replies,
    replies_cover,
    wait_until,
)

GROUP = "120363000000111-1700000000"


async def test_a_burst_of_50_contacts_is_answered_in_order_within_the_global_limit(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    # No cap on messages per minute here: this is about order, loss and the concurrency limit.
    app, _ = await start_linked(
        fault_settings.model_copy(update={"max_concurrent_replies": 4, "max_messages_per_minute": 0})
    )
    contacts = [f"1555200{n:04d}" for n in range(50)]
    # Short texts: the offline model quotes at most 160 characters of what it answers.
    texts = {number: [f"c{n} m{i}" for i in range(10)] for n, number in enumerate(contacts)}
    for i in range(10):  # 500 messages as fast as the simulator takes them (well within ten seconds)
        await asyncio.gather(*(sim.send(number, texts[number][i]) for number in contacts))

    async def all_answered() -> bool:
        return all([await replies_cover(sim, number, texts[number]) for number in contacts])

    await wait_until(all_answered, 180)
    for number in contacts:
        replies = [reply.text for reply in await sim.sent(to=number)]
        assert_covered_once(texts[number], replies)
        # In order: each reply answers only messages written after those the previous reply answered.
        answered = [[i for i, text in enumerate(texts[number]) if text in reply] for reply in replies]
        assert all(max(earlier) < min(later) for earlier, later in zip(answered, answered[1:], strict=False))
    assert app.queue.peak_running <= 4


async def test_a_flood_gets_one_notice_and_few_model_calls_while_others_are_answered(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    settings = fault_settings.model_copy(
        update={
            "coalesce_quiet_s": 0.5,
            "coalesce_max_wait_s": 3.0,
            "flood_soft_per_minute": 10,
            "flood_quiet_s": 2.0,
            "flood_hard_per_minute": 20,
        }
    )
    app, _ = await start_linked(settings)
    for i in range(30):  # 30 messages as fast as the simulator takes them (well within 3 s)
        await sim.send(ANA, f"flood {i}", name="Ana")
        if i == 15:
            asked = time.monotonic()
            await sim.send(BEN, "a normal question", name="Ben")
    await wait_until(lambda: has_replies(sim, BEN, 1))
    ben_waited = time.monotonic() - asked
    await wait_until(lambda: has_replies(sim, ANA, 1))
    assert await app.wait_idle(REPLY_TIMEOUT_S)

    to_ana = [reply.text for reply in await sim.sent(to=ANA)]
    assert to_ana == [settings.flood_notice]  # one polite notice
    ana_calls = [r for r in await sim.gemini_requests() if "flood" in r.all_text]
    assert len(ana_calls) <= 2
    assert ben_waited < 5.0  # Ben was not starved (a second or so: his own quiet time, then the reply)
    assert app.db is not None
    contact = await app.db.contacts.get(f"{ANA}@c.us")
    assert contact is not None and contact.paused_until is not None


async def test_groups_are_answered_only_when_allowed_and_mentioned(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings.model_copy(update={"answer_groups": True}))
    await sim.send(ANA, "hello everyone", name="Ana", group=GROUP)
    await sim.send(ANA, "bot, what time do you open?", name="Ana", group=GROUP, mention_me=True)
    await wait_until(lambda: has_replies(sim, GROUP, 1))
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    [reply] = await sim.sent(to=GROUP)
    assert "what time do you open" in reply.text
    assert app.db is not None
    statuses = {m.text: m.status for m in await app.db.messages.for_contact(f"{GROUP}@g.us")}
    assert statuses["hello everyone"] is MessageStatus.SKIPPED


async def test_the_allowlist_and_the_operator_taking_over(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings.model_copy(update={"answer_only": [ANA, BEN]}))
    await sim.send("15559990000", "am I answered?", name="Stranger")
    await sim.send(ANA, "first question", name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1))

    await sim.send_from_phone(ANA, "I'll take this one myself")  # the operator, on the phone
    assert app.db is not None
    db = app.db

    async def taken_over() -> bool:
        contact = await db.contacts.get(f"{ANA}@c.us")
        return contact is not None and contact.paused_until is not None

    await wait_until(taken_over)
    await sim.send(ANA, "second question", name="Ana")
    await sim.send(BEN, "ben's question", name="Ben")
    await wait_until(lambda: has_replies(sim, BEN, 1))
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    assert [r.text for r in await sim.sent(to=ANA) if "second question" in r.text] == []
    assert await sim.sent(to="15559990000") == []
    reasons = {m.text: m.reason for m in await db.messages.for_contact(f"{ANA}@c.us")}
    assert "operator" in (reasons["second question"] or "")


async def test_bad_input_never_stops_a_worker(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings)
    huge = "x" * 65_000
    await sim.send(ANA, "   ", name="Ana")
    await sim.send(ANA, huge, name="Ana")
    await sim.send(ANA, "\u200b\u200b\u200b", name="Ana")
    await sim.send(ANA, "\x00\x01\x02\ufffd\ufffd\x03\x04" * 20, name="Ana")
    await sim.send(ANA, "مرحبا 👋🏽 שלום \u202e family: 👨‍👩‍👧‍👦", name="Ana")
    for kind in ("sticker", "ptt", "location"):
        await sim.send_media(BEN, kind)
    await wait_until(lambda: has_replies(sim, ANA, 1))
    await wait_until(lambda: has_replies(sim, BEN, 1))
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    await sim.send(ANA, "and a normal question after all that", name="Ana")
    await wait_until(lambda: replies_cover(sim, ANA, ["and a normal question after all that"]))

    assert app.db is not None
    stored = [m for m in await app.db.messages.for_contact(f"{ANA}@c.us") if m.direction is Direction.INBOUND]
    assert len(stored) == 6 and any(len(m.text) == 65_000 for m in stored)  # all stored, the huge one whole
    assert all(m.status is not MessageStatus.FAILED for m in stored)
    for request in await sim.gemini_requests():
        assert len(request.all_text) < 20_000  # the huge message is capped in the prompt
    # The sticker is ignored; the voice note and the location are each acknowledged once, whether they came in
    # one turn or two.
    persona = await app.db.personas.get_or_builtin(fault_settings.persona)
    media_reply = persona.instructions.media_reply or AnswerRules().media_reply
    to_ben = " ".join(r.text for r in await sim.sent(to=BEN))
    assert to_ben.count(media_reply) == 1 and to_ben.count(AnswerRules().location_reply) == 1


@pytest.mark.parametrize(
    "trouble",
    [{"status": 500}, {"status": 429, "retry_after_s": 0.2}, {"hang_next": 1000}],
    ids=["500", "429-retry-after", "timeouts"],
)
async def test_an_ai_outage_costs_bounded_calls_one_fallback_per_contact_then_real_answers(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings, trouble: dict[str, object]
) -> None:
    settings = fault_settings.model_copy(
        update={
            "ai_attempts": 3,
            "ai_call_timeout_s": 0.5,
            "ai_retry_initial_s": 0.05,
            "ai_retry_max_s": 0.3,
            "ai_breaker_failures": 3,
            "ai_breaker_open_s": 2.0,
        }
    )
    app, _ = await start_linked(settings)
    if "hang_next" not in trouble:
        trouble = {**trouble, "fail_next": 1000}
    await sim.gemini_behaviour(**trouble)
    people = {ANA: "Ana", BEN: "Ben", CARO: "Caro"}
    started = time.monotonic()
    for round_number in range(3):
        for number, name in people.items():
            await sim.send(number, f"{name} asks question {round_number}", name=name)
        # The later rounds come once everyone has had the fallback: in the outage, with the breaker open.
        for number in people:
            await wait_until(lambda number=number: has_replies(sim, number, 1))
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    outage_s = time.monotonic() - started
    for number in people:  # one fallback each, however many questions
        assert [r.text for r in await sim.sent(to=number)] == [settings.fallback_reply]
    calls = len(await sim.gemini_requests())
    # The breaker counts single calls: it opens after 3, then one probe per open period at most.
    assert calls <= settings.ai_breaker_failures + 1 + int(outage_s / settings.ai_breaker_open_s) + 1, calls

    await sim.gemini_behaviour()  # the model is back: the next probe closes the breaker
    for number, name in people.items():
        texts = [f"{name} asks question {round_number}" for round_number in range(3)]
        await wait_until(lambda number=number, texts=texts: replies_cover(sim, number, texts), 30)
        replies = [r.text for r in await sim.sent(to=number)]
        assert replies[0] == settings.fallback_reply and len(replies) == 2  # then one real answer for all
        assert_covered_once(texts, replies[1:])
