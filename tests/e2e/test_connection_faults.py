"""Faults of the browser, injected while a contact writes: the bot relaunches on the same profile by itself, and
every message sent before, during and after the fault is answered once.
"""

from __future__ import annotations

import signal

from bot.app import Application
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from .conftest import StateLog, answered_across, browser_processes, signal_all


async def test_kill_9_of_chromium_is_recovered_without_a_new_qr(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    profile = app.settings.profile_dir
    [browser] = browser_processes(profile)

    async def kill() -> None:
        signal_all([browser], signal.SIGKILL)

    mark = await answered_across(app, sim, log, kill, noticed=ConnectionState.BROWSER_LOST, name="browser kill")
    after_kill = log.since(mark)
    # Never "connected" while the browser was gone: the first news after the kill is that it is lost, and
    # "connected" comes back only after a new browser was launched. No QR was needed.
    assert after_kill[0] is ConnectionState.BROWSER_LOST, after_kill
    assert ConnectionState.STARTING in after_kill[: after_kill.index(ConnectionState.CONNECTED)], after_kill
    assert ConnectionState.NEEDS_LOGIN not in after_kill, after_kill
    assert browser not in browser_processes(profile)


async def test_a_crashed_page_is_relaunched(sim: SimulatorClient, linked: tuple[Application, StateLog]) -> None:
    app, log = linked

    async def crash() -> None:
        renderers = browser_processes(app.settings.profile_dir, "renderer")
        assert renderers
        signal_all(renderers, signal.SIGKILL)

    mark = await answered_across(app, sim, log, crash, noticed=ConnectionState.BROWSER_LOST, name="page crash")
    assert log.since(mark)[0] is ConnectionState.BROWSER_LOST


async def test_a_hung_page_is_caught_by_the_watchdog(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    # The renderer stops running (SIGSTOP): no crash, no event, the page simply never answers again.
    hung = browser_processes(app.settings.profile_dir, "renderer")

    async def hang() -> None:
        signal_all(hung, signal.SIGSTOP)

    try:
        mark = await answered_across(app, sim, log, hang, noticed=ConnectionState.BROWSER_LOST, name="hang")
    finally:
        signal_all(hung, signal.SIGCONT)
    lost = next(change for change in log.changes[mark:] if change.current is ConnectionState.BROWSER_LOST)
    assert "stopped answering" in lost.reason


async def test_the_daily_browser_restart_is_recovered_without_a_new_qr(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.scheduler is not None
    [browser] = browser_processes(app.settings.profile_dir)

    mark = await answered_across(
        app, sim, log, app.scheduler.restart_browser, noticed=ConnectionState.BROWSER_LOST, name="browser restart"
    )
    assert ConnectionState.NEEDS_LOGIN not in log.since(mark)
    assert browser not in browser_processes(app.settings.profile_dir)
