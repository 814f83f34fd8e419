"""The operator's commands end to end: typed on the phone into the account's "message yourself" chat, run by
the daemon, answered in that chat; a contact typing the same text is just a contact writing."""

from __future__ import annotations

from bot.app import Application
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import MessageStatus

from .conftest import (
    ANA,
    BEN,
    REPLY_TIMEOUT_S,
    StartWatched,
    assert_covered_once,
    assert_each_answered_once,
    has_replies,
    replies_cover,
    wait_until,
)


async def command(sim: SimulatorClient, own: str, text: str) -> str:
    """Type a command into the self chat and return the bot's answer there."""
    before = len(await sim.sent(to=own))
    await sim.send_from_phone(own, text)
    await wait_until(lambda: has_replies(sim, own, before + 1), REPLY_TIMEOUT_S)
    return (await sim.sent(to=own))[before].text


async def stored_as(app: Application, number: str, text: str, status: MessageStatus) -> bool:
    assert app.db is not None
    return any(m.text == text and m.status is status for m in await app.db.messages.for_contact(f"{number}@c.us"))


async def test_pause_leaves_a_contact_unanswered_and_resume_answers_again(
    sim: SimulatorClient, simulator: Simulator, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings)
    own = simulator.state.own_number
    await sim.send(ANA, "before the pause", name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)

    answer = await command(sim, own, f"/pause {ANA} 30")
    assert answer.startswith("Paused Ana (+15551234567) for 30 min"), answer
    await sim.send(ANA, "during the pause", name="Ana")
    await wait_until(lambda: stored_as(app, ANA, "during the pause", MessageStatus.SKIPPED), REPLY_TIMEOUT_S)

    answer = await command(sim, own, "/resume +1 555 123 4567")
    assert answer.startswith("Resumed Ana (+15551234567)"), answer
    await sim.send(ANA, "after the resume", name="Ana")
    await wait_until(lambda: replies_cover(sim, ANA, ["after the resume"]), REPLY_TIMEOUT_S)
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    replies = [reply.text for reply in await sim.sent(to=ANA)]
    # Each answered once; the message written during the pause is left to the operator, never answered late.
    assert_covered_once(["before the pause", "after the resume"], replies)
    # The self chat got the two answers and nothing else: the answers coming back were neither run nor answered.
    assert len(await sim.sent(to=own)) == 2


async def test_status_is_answered_in_the_self_chat_and_notes_to_self_are_left_alone(
    sim: SimulatorClient, simulator: Simulator, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings)
    own = simulator.state.own_number
    await sim.send(ANA, "hello", name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)
    await sim.send_from_phone(own, "buy milk")  # a note to self: no answer, no pause

    answer = await command(sim, own, "/status")
    lines = answer.splitlines()
    assert lines[0] == "WhatsApp: connected", answer
    assert "AI: closed, sending: closed" in lines
    assert "Messages today: 1 received, 1 replies" in lines
    assert "Paused: nobody" in lines
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    assert [reply.text for reply in await sim.sent(to=own)] == [answer]
    assert app.db is not None and await app.db.contacts.get(f"{own}@c.us") is None
    assert await app.db.messages.for_contact(f"{own}@c.us") == []


async def test_a_contact_typing_a_command_is_answered_like_any_message(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, _ = await start_linked(fault_settings)
    text = f"/pause {ANA} 30"
    await sim.send(BEN, text, name="Ben")
    await wait_until(lambda: has_replies(sim, BEN, 1), REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, BEN, [text])
    assert app.db is not None
    ana = await app.db.contacts.get(f"{ANA}@c.us")
    assert ana is None or (ana.paused_until is None and ana.auto_reply)
