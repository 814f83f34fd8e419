"""Every message is answered exactly once through a kill -9, a stop with replies in flight, the bot being down,
and a database outage. Real daemon, real Chromium, the simulator; the daemons of one test share one store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.app import Application
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Database, Direction, MessageStatus
from bot.whatsapp import ConnectionState
from bot.whatsapp.profile import chromium_pids

from ..storage_faults import FlakyProxy, Outage
from ..wire import kill_server, needs_server_control, pause_server, resume_server, start_server
from .conftest import (
    ANA,
    BEN,
    CARO,
    READY_TIMEOUT_S,
    answered_once,
    gemini_calls_reach,
    has_replies,
    signal_all,
    wait_until,
)


@pytest.fixture
def settings(fault_settings: Settings, db: Database) -> Settings:
    """The daemon's settings, on the test's database: every daemon of the test, and the test, see one store."""
    return fault_settings.model_copy(update={"mongodb_database": db.name})


@contextlib.asynccontextmanager
async def daemon(settings: Settings, db: Database) -> AsyncIterator[Application]:
    """A daemon on the test's store (the in-memory one is shared by handing it over), stopped afterwards."""
    app = Application(settings, database=db if db.in_memory else None)
    async with app:
        yield app


async def link_once(settings: Settings, db: Database, sim: SimulatorClient) -> None:
    """Link the profile (a daemon started, linked, stopped), so that later daemons come up without a QR."""
    async with daemon(settings, db) as app:
        assert app.whatsapp is not None
        await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
        await sim.link()
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)


_DEAD_LOOPS: list[asyncio.AbstractEventLoop] = []


class ThreadedDaemon:
    """A daemon on an event loop of its own thread, so that it can die as under kill -9: its Chromium and its
    Playwright driver are killed and its loop simply stops; none of its shutdown code runs."""

    def __init__(self, settings: Settings, database: Database | None) -> None:
        self.settings = settings
        self.app = Application(settings, database=database)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="doomed-daemon", daemon=True)
        self._drivers_before = playwright_drivers()

    async def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def start(self) -> None:
        self._thread.start()
        await self.run(self.app.start())

    async def kill(self) -> None:
        """Every process of the daemon at once, as systemd kills a crashed unit's whole cgroup: the browser and
        all its helpers, and the driver; returns once none of them is left."""
        profile = self.settings.profile_dir
        signal_all([*chromium_pids(profile), *(playwright_drivers() - self._drivers_before)], signal.SIGKILL)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        # Never finalised: that would run the dead daemon's cleanup code, which a killed process never does.
        _DEAD_LOOPS.append(self._loop)
        await wait_until(lambda: not chromium_pids(profile), READY_TIMEOUT_S)


def playwright_drivers() -> set[int]:
    """This process's Playwright drivers (node ... run-driver)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
        if parent == str(os.getpid()) and b"run-driver" in cmdline:
            found.add(int(entry.name))
    return found


async def test_kill_9_mid_reply_then_a_restart_answers_each_message_once(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    # The killed daemon ran in this test's process, which lives on, so its lease is not seen as a crash of this
    # server's daemon (taken at once): the restart waits for it to expire.
    settings = settings.model_copy(update={"lease_wait": True, "lease_renew_s": 0.5, "lease_ttl_s": 8.0})
    await link_once(settings, db, sim)
    doomed = ThreadedDaemon(settings, db if db.in_memory else None)
    await doomed.start()
    assert doomed.app.whatsapp is not None
    await doomed.run(doomed.app.whatsapp.wait_until_connected(READY_TIMEOUT_S))
    await sim.send(BEN, "ben before the crash", name="Ben")
    await wait_until(lambda: has_replies(sim, BEN, 1))

    await sim.gemini_behaviour(delay_ms=30_000)  # the model is slow: replies are in flight when the bot dies
    await sim.send(ANA, "ana first", name="Ana")
    await sim.send(BEN, "ben in flight", name="Ben")
    await gemini_calls_reach(sim, 3)  # ben's first answer, then ana's first and ben's second in flight
    await sim.send(ANA, "ana second", name="Ana")  # waits for Ana's turn in flight

    async def stored() -> bool:
        return len(await db.messages.for_contact(f"{ANA}@c.us")) == 2

    await wait_until(stored)
    await doomed.kill()

    await sim.gemini_behaviour()
    await sim.send(CARO, "caro while the bot is dead", name="Caro")
    async with daemon(settings, db):
        await answered_once(
            sim,
            db,
            {
                ANA: ["ana first", "ana second"],
                BEN: ["ben before the crash", "ben in flight"],
                CARO: ["caro while the bot is dead"],
            },
        )
    # The ones in flight were taken twice (before and after the crash); the rest once.
    attempts = {m.text: m.attempts for m in await db.messages.for_contact(f"{ANA}@c.us") if m.text.startswith("ana")}
    assert attempts == {"ana first": 2, "ana second": 1}


async def test_stop_lets_replies_in_flight_finish_keeps_storing_and_the_next_start_answers_the_rest(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    await link_once(settings, db, sim)
    await sim.gemini_behaviour(delay_ms=1500)
    async with daemon(settings, db) as app:
        assert app.whatsapp is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await sim.send(ANA, "ana in flight", name="Ana")
        await sim.send(BEN, "ben in flight", name="Ben")
        await gemini_calls_reach(sim, 2)
        await sim.send(ANA, "ana queued behind", name="Ana")  # waits for Ana's turn in flight

        async def queued() -> bool:
            return len(await db.messages.for_contact(f"{ANA}@c.us")) == 2

        await wait_until(queued)
        stopping = asyncio.create_task(app.stop())  # what SIGTERM does
        await sim.send(CARO, "caro while stopping", name="Caro")

        async def caro_stored() -> bool:
            return len(await db.messages.for_contact(f"{CARO}@c.us")) == 1

        await wait_until(caro_stored)
        await stopping
    # In flight when the stop came: answered before it ended. The rest is stored, not answered, not lost.
    for number, text in ((ANA, "ana in flight"), (BEN, "ben in flight")):
        [reply] = await sim.sent(to=number)
        assert text in reply.text
    statuses = {m.text: m.status for m in await db.messages.for_contact(f"{ANA}@c.us")}
    assert statuses["ana queued behind"] is MessageStatus.RECEIVED
    assert (await db.messages.for_contact(f"{CARO}@c.us"))[0].status is MessageStatus.RECEIVED

    await sim.gemini_behaviour()
    async with daemon(settings, db):
        await answered_once(
            sim,
            db,
            {ANA: ["ana in flight", "ana queued behind"], BEN: ["ben in flight"], CARO: ["caro while stopping"]},
        )


async def test_replies_cut_short_at_the_stop_deadline_are_answered_once_after_restart(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    await link_once(settings, db, sim)
    short_stop = settings.model_copy(update={"shutdown_timeout_s": 6.0})  # 1 s for replies in flight
    await sim.gemini_behaviour(delay_ms=20_000)
    async with daemon(short_stop, db) as app:
        assert app.whatsapp is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await sim.send(ANA, "ana cut short", name="Ana")
        await gemini_calls_reach(sim, 1)
    assert await sim.sent(to=ANA) == []
    [cut] = await db.messages.for_contact(f"{ANA}@c.us")
    assert cut.status is MessageStatus.ANSWERING  # left where the next start resumes it

    await sim.gemini_behaviour()
    async with daemon(settings, db):
        await answered_once(sim, db, {ANA: ["ana cut short"]})


async def test_messages_sent_while_the_bot_was_down_are_answered_once_and_old_ones_go_stale(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    await link_once(settings, db, sim)
    # Nobody listens now: real WhatsApp Web shows these only as unread chats when the bot comes back.
    await sim.send(ANA, "ana while down", name="Ana")
    await sim.send(ANA, "ana again while down", name="Ana")
    await sim.send(BEN, "ben while down", name="Ben")
    await sim.send(CARO, "caro two days ago", name="Caro", age_s=2 * 86400)
    async with daemon(settings, db):
        await answered_once(sim, db, {ANA: ["ana while down", "ana again while down"], BEN: ["ben while down"]})

        async def caro_stale() -> bool:
            stored = await db.messages.for_contact(f"{CARO}@c.us")
            return [m.status for m in stored] == [MessageStatus.STALE]

        await wait_until(caro_stale)
    assert await sim.sent(to=CARO) == []
    caro_chat = next(chat for chat in await sim.chats() if chat["id"] == f"{CARO}@c.us")
    assert caro_chat["unread"] == 1  # left unread for the operator


async def test_a_database_outage_loses_nothing_and_sends_nothing_unrecorded(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    await link_once(settings, db, sim)
    outage = Outage()
    flaky = Database(FlakyProxy(db._client, outage), db.name, in_memory=db.in_memory)
    # Room for one message in memory: the next one is left unread on WhatsApp and read back from there.
    app = Application(settings.model_copy(update={"storage_buffer_size": 1}), database=flaky)
    async with app:
        assert app.whatsapp is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await sim.send(ANA, "ana before the outage", name="Ana")
        await wait_until(lambda: has_replies(sim, ANA, 1))

        # Down while a reply is being generated, and while new messages arrive.
        await sim.gemini_behaviour(delay_ms=1000)
        await sim.send(BEN, "ben as it goes down", name="Ben")
        await gemini_calls_reach(sim, 2)
        outage.down = True
        await sim.send(ANA, "ana during the outage", name="Ana")
        await sim.send(CARO, "caro during the outage", name="Caro")
        await wait_until(lambda: (app.inbox.buffered, app.inbox.left_unread) == (1, 1))
        assert app.storage is not None and not app.storage.up
        # Ben's reply comes back from the model and cannot be stored: it must not be sent.
        await wait_until(lambda: outage.refused_insert(contact_id=f"{BEN}@c.us", direction="outbound"))
        assert await sim.sent(to=BEN) == []

        await sim.gemini_behaviour()
        outage.down = False
        await answered_once(
            sim,
            db,
            {
                ANA: ["ana before the outage", "ana during the outage"],
                BEN: ["ben as it goes down"],
                CARO: ["caro during the outage"],
            },
        )
        assert app.inbox.buffered == 0 and app.storage.up
    [ben] = [m for m in await db.messages.for_contact(f"{BEN}@c.us") if m.direction is Direction.INBOUND]
    assert ben.attempts == 2  # cut by the outage after the model answered, then answered once


@needs_server_control
@pytest.mark.parametrize("fault", ["killed", "paused"])
async def test_the_database_server_going_away_loses_nothing(
    settings: Settings, db: Database, sim: SimulatorClient, fault: str
) -> None:
    """The wire lane's real server process killed (connections refused) or paused (nothing answers)."""
    await link_once(settings, db, sim)
    async with daemon(settings.model_copy(update={"mongodb_timeout_s": 1.0}), db) as app:
        assert app.whatsapp is not None and app.storage is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        await sim.send(ANA, "ana before the outage", name="Ana")
        await wait_until(lambda: has_replies(sim, ANA, 1))

        if fault == "killed":
            await kill_server()
        else:
            pause_server()
        try:
            await sim.send(ANA, "ana during the outage", name="Ana")
            await sim.send(BEN, "ben during the outage", name="Ben")
            await wait_until(lambda: app.inbox.buffered == 2)
            assert not app.storage.up and await sim.sent(to=BEN) == []
        finally:
            if fault == "killed":
                await start_server()
            else:
                resume_server()
        await answered_once(
            sim, db, {ANA: ["ana before the outage", "ana during the outage"], BEN: ["ben during the outage"]}
        )
        assert app.inbox.buffered == 0 and app.storage.up
