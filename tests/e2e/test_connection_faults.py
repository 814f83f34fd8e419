"""Faults of the browser and of WhatsApp Web, injected while contacts write: the bot recovers by itself (or
alerts and waits for the operator), and every message sent before, during and after the fault is answered once.
"""

from __future__ import annotations

import os
import signal

from bot.app import Application
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from .conftest import REPLY_TIMEOUT_S, StateLog, assert_each_answered_once, browser_processes

ANA = "15551234567"
RECOVERY_TIMEOUT_S = 60.0


async def test_kill_9_of_chromium_is_recovered_without_a_new_qr(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.whatsapp is not None
    profile = app.settings.profile_dir
    async with sim.phone(ANA) as phone:
        await sim.send(ANA, "before the crash", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

        [browser] = browser_processes(profile)
        mark = log.mark()
        os.kill(browser, signal.SIGKILL)
        await log.wait_for(ConnectionState.BROWSER_LOST, after=mark)
        await sim.send(ANA, "while the browser is gone", name="Ana")
        await app.whatsapp.wait_until_connected(RECOVERY_TIMEOUT_S)
        await sim.send(ANA, "after the restart", name="Ana")
        await phone.wait_for_replies(3, RECOVERY_TIMEOUT_S)

    await assert_each_answered_once(
        app, sim, ANA, ["before the crash", "while the browser is gone", "after the restart"]
    )
    after_kill = log.since(mark)
    # Never "connected" while the browser was gone: the first news after the kill is that it is lost, and
    # "connected" comes back only after a new browser was launched. No QR was needed.
    assert after_kill[0] is ConnectionState.BROWSER_LOST, after_kill
    assert ConnectionState.STARTING in after_kill[: after_kill.index(ConnectionState.CONNECTED)], after_kill
    assert ConnectionState.NEEDS_LOGIN not in after_kill, after_kill
    assert browser not in browser_processes(profile)


async def test_a_crashed_page_is_relaunched(sim: SimulatorClient, linked: tuple[Application, StateLog]) -> None:
    app, log = linked
    assert app.whatsapp is not None
    async with sim.phone(ANA) as phone:
        await sim.send(ANA, "before the page crash", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

        mark = log.mark()
        renderers = browser_processes(app.settings.profile_dir, "renderer")
        assert renderers
        for pid in renderers:
            os.kill(pid, signal.SIGKILL)
        await log.wait_for(ConnectionState.BROWSER_LOST, after=mark)
        await sim.send(ANA, "while the page is dead", name="Ana")
        await app.whatsapp.wait_until_connected(RECOVERY_TIMEOUT_S)
        await sim.send(ANA, "after the page crash", name="Ana")
        await phone.wait_for_replies(3, RECOVERY_TIMEOUT_S)

    await assert_each_answered_once(
        app, sim, ANA, ["before the page crash", "while the page is dead", "after the page crash"]
    )
    assert log.since(mark)[0] is ConnectionState.BROWSER_LOST


async def test_a_hung_page_is_caught_by_the_watchdog(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.whatsapp is not None
    async with sim.phone(ANA) as phone:
        await sim.send(ANA, "before the hang", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

        mark = log.mark()
        # The renderer stops running (SIGSTOP): no crash, no event, the page simply never answers again.
        hung = browser_processes(app.settings.profile_dir, "renderer")
        for pid in hung:
            os.kill(pid, signal.SIGSTOP)
        try:
            await sim.send(ANA, "while the page hangs", name="Ana")
            await log.wait_for(ConnectionState.BROWSER_LOST, after=mark)
        finally:
            for pid in hung:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        await app.whatsapp.wait_until_connected(RECOVERY_TIMEOUT_S)
        await sim.send(ANA, "after the hang", name="Ana")
        await phone.wait_for_replies(3, RECOVERY_TIMEOUT_S)

    await assert_each_answered_once(app, sim, ANA, ["before the hang", "while the page hangs", "after the hang"])
    assert "stopped answering" in next(
        c.reason for c in log.changes[mark:] if c.current is ConnectionState.BROWSER_LOST
    )
