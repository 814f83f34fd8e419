"""The daemon's lease on its account: taken or refused naming the holder, waited for as a standby, kept by
renewals through a short database outage, lost when taken over or left to expire, released on stop."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect

from bot.errors import EXIT_UNAVAILABLE, AccountInUse, StorageUnavailable
from bot.ops.lease import AccountLease, new_holder_id
from bot.storage import Database
from bot.storage.leases import Lease, LeaseRepository

from ..waiting import wait_until

RENEW_S = 0.05
TTL_S = 0.6
TIMEOUT_S = 10.0


class FlakyLeases(LeaseRepository):
    """The database's leases, with an outage the test switches on and off."""

    def __init__(self, db: Database) -> None:
        self._real = db.leases
        self.down = False
        self.renewals = 0
        self.refused = 0

    async def acquire(self, account: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> Lease:
        if self.down:
            raise AutoReconnect("connection refused")
        return await self._real.acquire(account, holder, ttl, now=now)

    async def renew(self, account: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> Lease | None:
        if self.down:
            self.refused += 1
            raise AutoReconnect("connection refused")
        self.renewals += 1
        return await self._real.renew(account, holder, ttl, now=now)

    async def release(self, account: str, holder: str) -> bool:
        return await self._real.release(account, holder)

    async def get(self, account: str) -> Lease | None:
        return await self._real.get(account)


def lease_on(leases: LeaseRepository, **options: object) -> AccountLease:
    settings: dict[str, object] = {"ttl_s": TTL_S, "renew_s": RENEW_S, **options}
    return AccountLease(leases, "acme", **settings)  # type: ignore[arg-type]


async def take_over(db: Database, holder: str = "intruder:9:beef") -> None:
    """Another daemon takes the lease, as if ours had expired (its clock is past our expiry)."""
    current = await db.leases.get("acme")
    assert current is not None
    taken = await db.leases.acquire("acme", holder, timedelta(seconds=60), now=current.expires_at)
    assert taken.holder == holder


def test_holder_ids_name_the_host_and_process_and_are_unique() -> None:
    first, second = new_holder_id(), new_holder_id()
    assert first.startswith(f"{socket.gethostname()}:{os.getpid()}:") and first != second


async def test_a_free_account_is_taken_and_released_on_stop(db: Database) -> None:
    lease = lease_on(db.leases)
    await lease.acquire()
    lease.start()
    stored = await db.leases.get("acme")
    assert stored is not None and stored.holder == lease.holder and lease.held
    await lease.release()
    assert await db.leases.get("acme") is None and not lease.held


async def test_a_held_account_is_refused_naming_the_holder(db: Database) -> None:
    first = lease_on(db.leases, ttl_s=60.0)
    await first.acquire()
    second = lease_on(db.leases)
    with pytest.raises(AccountInUse) as refused:
        await second.acquire()
    assert refused.value.exit_code == EXIT_UNAVAILABLE
    assert first.holder in str(refused.value) and "LEASE_WAIT" in str(refused.value)
    await second.release()  # never held: leaves the holder's lease alone
    assert (await db.leases.get("acme")) is not None


async def test_an_unreachable_database_at_start_is_unavailable(db: Database) -> None:
    leases = FlakyLeases(db)
    leases.down = True
    with pytest.raises(StorageUnavailable):
        await lease_on(leases).acquire()


async def test_a_standby_takes_over_once_the_holder_releases(db: Database) -> None:
    first = lease_on(db.leases, ttl_s=60.0)
    await first.acquire()
    first.start()
    told: list[tuple[str, float]] = []
    standby = lease_on(db.leases, wait=True, on_standby=lambda why, next_try_s: told.append((why, next_try_s)))
    waiting = asyncio.create_task(standby.acquire())
    await wait_until(lambda: first.held and not waiting.done() and told, TIMEOUT_S)
    # Each wait is announced (systemd's start timeout is pushed past the next try) and names the holder.
    assert first.holder in told[0][0] and 0 < told[0][1] <= RENEW_S
    await first.release()
    async with asyncio.timeout(TIMEOUT_S):
        await waiting
    assert standby.held and (await db.leases.get("acme")).holder == standby.holder  # type: ignore[union-attr]


async def test_a_standby_takes_over_a_lease_left_to_expire(db: Database) -> None:
    dead = await db.leases.acquire("acme", "dead-daemon", timedelta(seconds=TTL_S))
    standby = lease_on(db.leases, wait=True)
    async with asyncio.timeout(TIMEOUT_S):
        await standby.acquire()
    assert standby.held
    assert datetime.now(UTC) >= dead.expires_at  # not a moment before it expired


async def test_renewals_keep_the_lease_beyond_its_first_expiry(db: Database) -> None:
    lease = lease_on(db.leases)
    await lease.acquire()
    first_expiry = lease.expires_at
    assert first_expiry is not None
    lease.start()
    await wait_until(lambda: datetime.now(UTC) > first_expiry + timedelta(seconds=RENEW_S), TIMEOUT_S)
    assert lease.held and not lease.lost
    stored = await db.leases.get("acme")
    assert stored is not None and stored.holder == lease.holder and stored.expires_at > first_expiry
    await lease.release()


async def test_a_lease_taken_over_is_lost_and_the_daemon_told(db: Database) -> None:
    told: list[bool] = []
    lease = lease_on(db.leases, on_lost=lambda: told.append(True))
    await lease.acquire()
    lease.start()
    await lease.check()  # held: passes
    await take_over(db)
    with pytest.raises(AccountInUse, match="intruder:9:beef"):
        async with asyncio.timeout(TIMEOUT_S):
            await lease.wait_lost()
    assert told == [True] and lease.lost and not lease.held
    with pytest.raises(AccountInUse):
        await lease.check()
    await lease.release()  # the new holder's lease stays
    stored = await db.leases.get("acme")
    assert stored is not None and stored.holder == "intruder:9:beef"


async def test_a_short_outage_is_not_a_loss(db: Database) -> None:
    leases = FlakyLeases(db)
    lease = lease_on(leases, ttl_s=2.0)
    await lease.acquire()
    lease.start()
    leases.down = True
    failed_from = leases.renewals
    await wait_until(lambda: leases.refused >= 2, TIMEOUT_S)
    assert leases.renewals == failed_from and not lease.lost
    leases.down = False
    await wait_until(lambda: leases.renewals > failed_from, TIMEOUT_S)
    assert lease.held and not lease.lost
    await lease.release()


async def test_an_outage_until_expiry_is_a_loss(db: Database) -> None:
    leases = FlakyLeases(db)
    lease = lease_on(leases)
    await lease.acquire()
    lease.start()
    leases.down = True
    with pytest.raises(AccountInUse, match="did not answer"):
        async with asyncio.timeout(TIMEOUT_S):
            await lease.wait_lost()
    expired_at = lease.expires_at
    assert expired_at is not None and datetime.now(UTC) >= expired_at  # not before it expired
    assert not lease.held


async def test_past_its_expiry_by_the_daemons_clock_a_lease_is_not_held(db: Database) -> None:
    now = [datetime.now(UTC)]
    lease = lease_on(db.leases, ttl_s=45.0, clock=lambda: now[0])
    await lease.acquire()
    assert lease.held
    now[0] += timedelta(seconds=45)
    assert not lease.held


async def dead_pid() -> int:
    process = await asyncio.create_subprocess_exec("true")
    await process.wait()
    return process.pid


async def test_a_lease_left_by_a_dead_process_of_this_server_is_taken_at_once(db: Database) -> None:
    dead = f"{socket.gethostname()}:{await dead_pid()}:cafe"
    await db.leases.acquire("acme", dead, timedelta(seconds=60))
    lease = lease_on(db.leases)
    await lease.acquire()  # no wait for the expiry, no standby needed
    assert lease.held and (await db.leases.get("acme")).holder == lease.holder  # type: ignore[union-attr]


@pytest.mark.parametrize("holder", ["live", "other-server"])
async def test_a_lease_of_a_live_process_or_of_another_server_is_left_alone(db: Database, holder: str) -> None:
    pid = os.getpid() if holder == "live" else await dead_pid()
    host = socket.gethostname() if holder == "live" else "another-server"
    await db.leases.acquire("acme", f"{host}:{pid}:cafe", timedelta(seconds=60))
    with pytest.raises(AccountInUse, match=f"{host}:{pid}:cafe"):
        await lease_on(db.leases).acquire()
