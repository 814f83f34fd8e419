"""What WhatsApp Web itself does to the connection (reload, offline, syncing, conflict, unlink, block, an update
that never gets ready), injected through the simulator while contacts write. Every message gets one answer once
the connection is back; what needs the operator alerts and waits instead of relaunching blindly.
"""

from __future__ import annotations

import pytest

from bot.app import Application
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Direction, MessageStatus
from bot.whatsapp import ConnectionState

from .conftest import (
    ANA,
    READY_TIMEOUT_S,
    REPLY_TIMEOUT_S,
    StartWatched,
    StateLog,
    answered_across,
    assert_each_answered_once,
    wait_until,
)

ANA_CHAT = f"{ANA}@c.us"
# Long enough for several watchdog probes of the fast fault settings: what has not happened by then will not.
QUIET_S = 3.0

RELAUNCH_STATES = {ConnectionState.BROWSER_LOST, ConnectionState.STARTING}


async def test_page_reload_reinjects_once_and_answers_what_came_meanwhile(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked

    async def reload() -> None:
        assert await sim.reload_pages() == 1

    mark = await answered_across(app, sim, log, reload, noticed=ConnectionState.LOADING, name="reload")
    assert not RELAUNCH_STATES & set(log.since(mark)), log.since(mark)
    assert app.whatsapp is not None
    page = app.whatsapp.page
    assert page is not None
    # One bridge, one listener: a reload must not leave a second subscription behind.
    assert await page.evaluate("() => WPP.listenerCount('chat.new_message')") == 1


async def test_offline_waits_without_relaunching_and_answers_after(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.whatsapp is not None
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.set_state("OFFLINE")
        await log.wait_for(ConnectionState.OFFLINE, after=mark)
        await sim.send(ANA, "while offline", name="Ana")
        with pytest.raises(TimeoutError):  # it waits: no relaunch, no reload
            await log.wait_for(ConnectionState.LOADING, after=mark, timeout_s=QUIET_S)
        assert phone.reply_count == 0
        await sim.set_state("CONNECTED")
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

    await assert_each_answered_once(app, sim, ANA, ["while offline"])
    assert not RELAUNCH_STATES & set(log.since(mark))


async def test_a_reply_during_syncing_is_held_then_sent(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.whatsapp is not None and app.db is not None
    db = app.db
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.set_state("SYNCING")
        await log.wait_for(ConnectionState.SYNCING, after=mark)
        await sim.send(ANA, "while syncing", name="Ana")

        async def reply_is_pending() -> bool:
            messages = await db.messages.for_contact(ANA_CHAT)
            return any(m.direction is Direction.OUTBOUND and m.status is MessageStatus.PENDING for m in messages)

        await wait_until(reply_is_pending)  # answered by the model, stored, and held: not refused, not sent
        assert phone.reply_count == 0 and app.whatsapp.state is ConnectionState.SYNCING
        await sim.set_state("CONNECTED")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)

    await assert_each_answered_once(app, sim, ANA, ["while syncing"])
    assert len(await sim.gemini_requests()) == 1  # held, not generated again
    # Not marked read while it could not be answered.
    assert [chat["unread"] for chat in await sim.chats() if chat["id"] == ANA_CHAT] == [0]


async def test_conflict_is_taken_over_when_allowed(
    sim: SimulatorClient, start_linked: StartWatched, fault_settings: Settings
) -> None:
    app, log = await start_linked(fault_settings.model_copy(update={"wa_takeover_on_conflict": True}))
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.set_state("CONFLICT")
        await sim.send(ANA, "during the conflict", name="Ana")
        await log.wait_for(ConnectionState.CONFLICT, after=mark)
        await log.wait_for(ConnectionState.CONNECTED, after=mark)
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    assert (await sim.status())["state"] == "CONNECTED"
    await assert_each_answered_once(app, sim, ANA, ["during the conflict"])


async def test_conflict_waits_and_alerts_by_default(sim: SimulatorClient, linked: tuple[Application, StateLog]) -> None:
    app, log = linked
    assert app.whatsapp is not None and app.alerts is not None
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.set_state("CONFLICT")
        await log.wait_for(ConnectionState.CONFLICT, after=mark)
        await sim.send(ANA, "while another window has it", name="Ana")
        assert app.alerts.is_open("whatsapp")
        with pytest.raises(TimeoutError):  # it does not fight the other window
            await log.wait_for(ConnectionState.CONNECTED, after=mark, timeout_s=QUIET_S)
        assert (await sim.status())["state"] == "CONFLICT"
        await sim.set_state("CONNECTED")  # the operator closed the other window
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, ["while another window has it"])


async def test_unlinked_by_the_phone_goes_back_to_login_and_keeps_the_profile(
    sim: SimulatorClient, linked: tuple[Application, StateLog]
) -> None:
    app, log = linked
    assert app.whatsapp is not None and app.alerts is not None
    settings = app.settings
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.logout()
        await log.wait_for(ConnectionState.LOGGED_OUT, after=mark)
        await log.wait_for(ConnectionState.NEEDS_LOGIN, after=mark)
        assert app.alerts.is_open("whatsapp")
        await wait_until(settings.qr_png_path.exists)  # a new code for the operator
        assert settings.profile_dir.is_dir()  # never deleted: the operator links the same profile again
        await sim.send(ANA, "while unlinked", name="Ana")
        await sim.link()
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, ["while unlinked"])
    assert not settings.qr_png_path.exists()


@pytest.mark.parametrize(
    ("stream", "state"), [("TOS_BLOCK", ConnectionState.BLOCKED), ("DEPRECATED_VERSION", ConnectionState.OUTDATED)]
)
async def test_blocked_and_outdated_stay_down_and_alert_once(
    sim: SimulatorClient, linked: tuple[Application, StateLog], stream: str, state: ConnectionState
) -> None:
    app, log = linked
    assert app.whatsapp is not None and app.alerts is not None
    async with sim.phone(ANA) as phone:
        mark = log.mark()
        await sim.set_state(stream)
        await log.wait_for(state, after=mark)
        await sim.send(ANA, "while WhatsApp refuses the session", name="Ana")
        assert app.alerts.is_open("whatsapp")
        with pytest.raises(TimeoutError):  # not retried blindly: no reload, no relaunch
            await log.wait_for(ConnectionState.LOADING, after=mark, timeout_s=QUIET_S)
        assert log.since(mark) == [state] and phone.reply_count == 0
        assert app.settings.profile_dir.is_dir()
        await sim.set_state("CONNECTED")  # lifted (the operator sorted it out with WhatsApp)
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, ["while WhatsApp refuses the session"])


async def test_ready_that_never_comes_is_reloaded_then_relaunched_then_alerted(
    sim: SimulatorClient, start_at_login: StartWatched, fault_settings: Settings
) -> None:
    settings = fault_settings.model_copy(
        update={"whatsapp_ready_timeout_s": 1.5, "whatsapp_alert_after_attempts": 1, "whatsapp_start_attempts": 0}
    )
    app, log = await start_at_login(settings)
    assert app.whatsapp is not None and app.alerts is not None
    await sim.set_main_ready("never")  # an update broke WhatsApp Web's start: main-ready never fires
    async with sim.phone(ANA) as phone:
        await sim.link()
        await log.wait_for(ConnectionState.SYNCING)
        await sim.send(ANA, "while it never gets ready", name="Ana")
        await log.wait_for(ConnectionState.BROWSER_LOST)
        await wait_until(lambda: app.alerts is not None and app.alerts.is_open("whatsapp"))
        states = log.since(0)
        # First a reload of the page (loading again), then a relaunch of the browser.
        assert ConnectionState.LOADING in states[states.index(ConnectionState.SYNCING) :], states
        await sim.set_main_ready("normal")  # fixed (in real life: WhatsApp Web's next version)
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S * 2)
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, ["while it never gets ready"])


async def test_main_ready_before_authentication_is_not_connected(
    sim: SimulatorClient, start_at_login: StartWatched, fault_settings: Settings
) -> None:
    await sim.set_main_ready("before-auth")  # what the real wa-js 4.6.0 does: main-ready on the QR screen
    app, log = await start_at_login(fault_settings)
    assert app.whatsapp is not None
    page = app.whatsapp.page
    assert page is not None
    assert await page.evaluate("() => [WPP.conn.isMainReady(), WPP.conn.isAuthenticated()]") == [True, False]
    with pytest.raises(TimeoutError):
        await log.wait_for(ConnectionState.CONNECTED, timeout_s=QUIET_S)
    async with sim.phone(ANA) as phone:
        await sim.link()
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await sim.send(ANA, "hello after linking", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, ["hello after linking"])
