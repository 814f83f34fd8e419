"""SimulatorClient: the control API as tests, benchmarks and outside checks call it."""

from __future__ import annotations

import pytest

from bot.simulator.client import SimulatorClient, SimulatorError


async def test_client_drives_the_connection_controls(open_page, sim: SimulatorClient) -> None:
    with pytest.raises(SimulatorError, match="409"):
        await sim.rotate_qr()
    await sim.set_main_ready("before-auth", delay_ms=0)
    wa = await open_page()
    await wa.log.wait_count("conn.main_ready")  # before-auth: on the QR screen already
    await sim.rotate_qr()
    await wa.log.wait_count("conn.auth_code_change", 2)
    await sim.qr_idle()
    await wa.log.wait_count("conn.qrcode_idle")
    with pytest.raises(SimulatorError, match="idle"):
        await sim.link()
    code = await wa.js("() => WPP.conn.refreshQR()")
    await sim.link(ref=code["ref"])
    await wa.log.wait_count("conn.authenticated")

    await sim.set_main_ready("normal")
    [before] = (await sim.status())["pages"]
    async with sim.phone("15551234567") as phone:
        assert await sim.reload_pages() == 1
        # The reloaded page is a new page, linked, main-ready under the normal setting.
        await phone.wait_for_status(
            lambda status: (
                [(p["id"] != before["id"], p["stage"], p["main_ready_mode"]) for p in status["pages"]]
                == [(True, "main_ready", "normal")]
            )
        )
    await sim.send("15551234567", "hi", name="Ana")
    assert [(c["id"], c["unread"]) for c in await sim.chats()] == [("15551234567@c.us", 1)]


async def test_client_links_with_a_pairing_code(open_page, sim: SimulatorClient) -> None:
    wa = await open_page()
    code = await wa.js("() => WPP.conn.genLinkDeviceCodeForPhoneNumber('15550000000')")
    await sim.link(code=f"{code[:4]}-{code[4:]}")
    await wa.log.wait_count("conn.main_ready")
    await sim.set_state("OFFLINE")
    await wa.wait_mode("OFFLINE")
    await sim.set_state("UNPAIRED")
    await wa.log.wait_count("conn.logout")
    assert (await sim.status())["linked"] is False


async def test_media_and_phone_messages_through_the_client(sim: SimulatorClient) -> None:
    image = await sim.send_media("15551234567", "image", caption="look")
    voice = await sim.send_media("15551234567", "ptt")
    own = await sim.send_from_phone("15551234567", "typed on the phone")
    assert image.startswith("false_15551234567@c.us_") and voice.startswith("false_15551234567@c.us_")
    assert own.startswith("true_15551234567@c.us_")
    [chat] = await sim.chats()
    assert chat["unread"] == 0  # typing on the phone reads the chat
