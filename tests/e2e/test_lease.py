"""One daemon per account: two daemons on one store (the same account) never both drive it. The second refuses
to start, or waits as a standby and takes over once the first stops or dies; a daemon whose lease is taken
over stops sending at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import Application
from bot.errors import EXIT_UNAVAILABLE, AccountInUse
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import GONE_OUT, Database, Direction
from bot.whatsapp import ConnectionState
from bot.whatsapp.profile import chromium_pids

from .conftest import ANA, READY_TIMEOUT_S, REPLY_TIMEOUT_S, gemini_calls_reach, wait_until
from .test_durability import ThreadedDaemon


@pytest.fixture
def settings(fault_settings: Settings, db: Database) -> Settings:
    """Every daemon of a test on the test's database, renewing its lease often and losing it within seconds (not
    fewer: the wire lane's server can stall that long while it creates a new database's indexes); several run
    at once (and a killed one keeps its sockets), so none serves the status page."""
    return fault_settings.model_copy(
        update={
            "mongodb_database": db.name,
            "lease_renew_s": 0.5,
            "lease_ttl_s": 8.0,
            "shutdown_timeout_s": 20.0,
            "status_enabled": False,
        }
    )


@contextlib.asynccontextmanager
async def daemon(settings: Settings, db: Database) -> AsyncIterator[Application]:
    async with Application(settings, database=db) as app:
        yield app


async def until_state(app: Application, *states: ConnectionState) -> None:
    assert app.whatsapp is not None
    await app.whatsapp.wait_for_state(*states, timeout_s=READY_TIMEOUT_S)


async def test_a_second_daemon_on_the_account_refuses_to_start_naming_the_holder(
    settings: Settings, db: Database
) -> None:
    async with daemon(settings, db) as first:
        await until_state(first, ConnectionState.NEEDS_LOGIN)
        assert first.lease is not None
        browsers = chromium_pids(settings.profile_dir)
        with pytest.raises(AccountInUse) as refused:
            async with daemon(settings, db):
                pytest.fail("the second daemon started")
        assert refused.value.exit_code == EXIT_UNAVAILABLE
        assert first.lease.holder in str(refused.value)
        # The second never touched the profile: the first's browser is the only one, and it still runs.
        assert chromium_pids(settings.profile_dir) == browsers
        assert first.lease.held
        stored = await db.leases.get(settings.account)
        assert stored is not None and stored.holder == first.lease.holder


async def test_a_standby_takes_over_when_the_holder_stops(settings: Settings, db: Database) -> None:
    standby_settings = settings.model_copy(update={"lease_wait": True, "lease_ttl_s": 60.0})
    first = Application(standby_settings, database=db)  # a long lease: only its release lets the standby in
    await first.start()
    try:
        standby = Application(standby_settings, database=db)
        starting = asyncio.create_task(standby.__aenter__())
        await until_state(first, ConnectionState.NEEDS_LOGIN)
        assert not starting.done()  # waiting, and not on the profile: the first's browser runs
    finally:
        await first.stop()
    async with asyncio.timeout(READY_TIMEOUT_S):
        await starting
    try:
        await until_state(standby, ConnectionState.NEEDS_LOGIN)
        assert standby.lease is not None and standby.lease.held
    finally:
        await standby.stop()
    assert await db.leases.get(settings.account) is None  # released on the clean stop


async def test_a_standby_takes_over_from_a_killed_daemon_once_its_lease_expires(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    doomed = ThreadedDaemon(settings, db if db.in_memory else None)
    await doomed.start()
    await doomed.run(until_state(doomed.app, ConnectionState.NEEDS_LOGIN))
    await sim.link()
    await doomed.run(until_state(doomed.app, ConnectionState.CONNECTED))
    await doomed.kill()  # nothing released: the lease stays until it expires

    held = await db.leases.get(settings.account)
    assert held is not None and doomed.app.lease is not None and held.holder == doomed.app.lease.holder
    async with daemon(settings.model_copy(update={"lease_wait": True}), db) as standby:
        assert standby.lease is not None and standby.lease.holder != held.holder
        await until_state(standby, ConnectionState.CONNECTED)  # the same profile, still linked
        await sim.send(ANA, "hello after the takeover", name="Ana")

        async def answered() -> bool:
            return len(await sim.sent(to=ANA)) == 1

        await wait_until(answered, REPLY_TIMEOUT_S)


async def test_a_daemon_whose_lease_is_taken_over_stops_sending_at_once(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    app = Application(settings, database=db)
    await app.start()
    try:
        await until_state(app, ConnectionState.NEEDS_LOGIN)
        await sim.link()
        await until_state(app, ConnectionState.CONNECTED)
        # A slow model: the reply is in flight when the lease goes, and would be sent well within the stop's
        # grace (most of 20 s) if the daemon let it finish.
        await sim.gemini_behaviour(delay_ms=3000)
        await sim.send(ANA, "answered by whoever holds the account", name="Ana")
        await gemini_calls_reach(sim, 1)

        current = await db.leases.get(settings.account)
        assert current is not None
        # Another daemon takes it over, as it may once our lease looks expired to it (a paused VM, a slow clock).
        ttl = timedelta(seconds=settings.lease_ttl_s)
        await db.leases.acquire(settings.account, "other-server:1:beef", ttl, now=current.expires_at)
        with pytest.raises(AccountInUse, match="other-server:1:beef"):
            async with asyncio.timeout(READY_TIMEOUT_S):
                await app.wait_failed()
    finally:
        await app.stop()
    assert await sim.sent(to=ANA) == []
    # Left for the next holder to answer, not marked as answered or failed.
    [message] = [m for m in await db.messages.for_contact(f"{ANA}@c.us") if m.direction is Direction.INBOUND]
    assert message.status not in GONE_OUT
    stored = await db.leases.get(settings.account)
    assert stored is not None and stored.holder == "other-server:1:beef"  # the new holder's lease is left alone
