"""The daemon answers WhatsApp messages end to end: real Chromium, the simulator, the real google-genai SDK."""

from __future__ import annotations

import asyncio
import stat
from contextlib import AsyncExitStack

from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Direction, MessageStatus
from bot.whatsapp import ConnectionState

from .conftest import READY_TIMEOUT_S, REPLY_TIMEOUT_S, StartDaemon, wait_until

ANA = "15551234567"


async def test_linked_daemon_answers_a_message(
    sim: SimulatorClient, start_daemon: StartDaemon, daemon_settings: Settings
) -> None:
    async with sim.phone(ANA) as phone:
        app = await start_daemon(daemon_settings)
        assert app.whatsapp is not None
        await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
        assert daemon_settings.qr_png_path.exists()  # the operator has a code to scan
        await sim.link()
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        assert not daemon_settings.qr_png_path.exists()  # a used code does not lie around

        question = "What time do you open tomorrow?"
        wa_id = await sim.send(ANA, question, name="Ana")
        [reply] = await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

    # The answer is the model's, reached through the real SDK, with Ana's name and words in the prompt; the name
    # she chose herself is quoted data in the conversation, never part of the instructions.
    [request] = await sim.gemini_requests()
    assert question in request.contents[-1].text and request.contents[-1].role == "user"
    assert '"contact_whatsapp_name": "Ana"' in request.contents[0].text
    assert "Ana" not in (request.system_instruction or "")
    assert question in reply.text

    assert app.db is not None and await app.wait_idle(REPLY_TIMEOUT_S)
    db = app.db

    async def delivered() -> bool:  # the contact's phone acknowledges the reply
        return [m.status for m in await db.messages.for_contact(f"{ANA}@c.us")] == [MessageStatus.DELIVERED] * 2

    await wait_until(delivered)
    inbound, outbound = await db.messages.for_contact(f"{ANA}@c.us")
    assert (inbound.direction, inbound.wa_id) == (Direction.INBOUND, wa_id)
    assert (outbound.direction, outbound.wa_id) == (Direction.OUTBOUND, reply.id)
    assert outbound.in_reply_to == inbound.id and inbound.reply_id == outbound.id
    assert outbound.wa_id == f"true_{ANA}@c.us_{outbound.wa_key}"  # sent with the id the bot chose first
    assert outbound.text == reply.text

    for private in (daemon_settings.sessions_dir, daemon_settings.profile_dir):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700


async def test_restarted_daemon_needs_no_new_link(
    sim: SimulatorClient, start_daemon: StartDaemon, daemon_settings: Settings
) -> None:
    async with sim.phone(ANA) as phone:
        first = await start_daemon(daemon_settings)
        await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, READY_TIMEOUT_S)
        await sim.link()
        assert first.whatsapp is not None
        await first.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await first.stop()
        await phone.wait_for_status(lambda status: status["ready_pages"] == 0, READY_TIMEOUT_S)

        second = await start_daemon(daemon_settings)  # same profile folder, no /api/link this time
        assert second.whatsapp is not None
        await second.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        assert second.whatsapp.state is ConnectionState.CONNECTED
        assert (await sim.status())["linked"] is True

        await sim.send(ANA, "Are you there after the restart?", name="Ana")
        [reply] = await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    assert "after the restart" in reply.text


async def test_concurrent_contacts_get_their_own_answers_and_private_prompts(
    sim: SimulatorClient, start_daemon: StartDaemon, daemon_settings: Settings
) -> None:
    contacts = {
        "15551110001": ("Ana", "apricot"),
        "15551110002": ("Ben", "blueberry"),
        "15551110003": ("Caro", "cherry"),
    }
    async with AsyncExitStack() as stack:
        phones = {number: await stack.enter_async_context(sim.phone(number)) for number in contacts}
        any_phone = phones["15551110001"]
        app = await start_daemon(daemon_settings)
        await any_phone.wait_for_status(lambda status: status["qr_pages"] >= 1, READY_TIMEOUT_S)
        await sim.link()
        assert app.whatsapp is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)

        # Two rounds, all three contacts at once each time, so the second prompts also carry history.
        for round_number in (1, 2):
            await asyncio.gather(
                *(
                    sim.send(number, f"round {round_number}: my secret word is {word}", name=name)
                    for number, (name, word) in contacts.items()
                )
            )
            replies = await asyncio.gather(
                *(phone.wait_for_replies(round_number, REPLY_TIMEOUT_S) for phone in phones.values())
            )
            for (number, (_, word)), sent in zip(contacts.items(), replies, strict=True):
                assert len(sent) == round_number
                assert f"round {round_number}: my secret word is {word}" in sent[-1].text, number

    requests = await sim.gemini_requests()
    assert len(requests) == 6
    owners = []
    for request in requests:
        text = request.all_text
        present = [name for name, word in contacts.values() if word in text or name in text]
        assert len(present) == 1, f"a prompt mixes contacts {present}: {text!r}"
        owners.append(present[0])
    assert sorted(owners) == ["Ana", "Ana", "Ben", "Ben", "Caro", "Caro"]
    # The second-round prompts carry the first round of the same contact.
    second_round = [r for r in requests if "round 2" in r.all_text]
    assert all("round 1" in r.all_text for r in second_round) and len(second_round) == 3
