"""Leases: one holder per account, taken only when free, expired or already ours; renewed and released only by
their holder. Times come from the test (`now`), so expiry is exact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.storage import Database

TTL = timedelta(seconds=45)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_a_free_lease_is_taken(db: Database) -> None:
    lease = await db.leases.acquire("acme", "host-a:1:x", TTL, now=T0)
    assert (lease.id, lease.holder) == ("acme", "host-a:1:x")
    assert (lease.acquired_at, lease.heartbeat_at, lease.expires_at) == (T0, T0, T0 + TTL)
    assert await db.leases.get("acme") == lease


async def test_a_held_lease_is_not_taken_and_its_holder_is_named(db: Database) -> None:
    mine = await db.leases.acquire("acme", "a", TTL, now=T0)
    theirs = await db.leases.acquire("acme", "b", TTL, now=T0 + TTL - timedelta(milliseconds=1))
    assert theirs == mine  # the holder and its expiry, unchanged
    assert await db.leases.get("acme") == mine


async def test_an_expired_lease_is_taken_over_and_the_old_holder_has_lost_it(db: Database) -> None:
    await db.leases.acquire("acme", "a", TTL, now=T0)
    taken = await db.leases.acquire("acme", "b", TTL, now=T0 + TTL)
    assert taken.holder == "b" and taken.acquired_at == T0 + TTL and taken.expires_at == T0 + 2 * TTL
    assert await db.leases.renew("acme", "a", TTL, now=T0 + TTL) is None
    assert await db.leases.release("acme", "a") is False
    assert (await db.leases.get("acme")) == taken


async def test_our_own_lease_is_taken_again(db: Database) -> None:
    await db.leases.acquire("acme", "a", TTL, now=T0)
    again = await db.leases.acquire("acme", "a", TTL, now=T0 + timedelta(seconds=10))
    assert again.holder == "a" and again.expires_at == T0 + timedelta(seconds=10) + TTL


async def test_renewing_pushes_the_expiry_and_keeps_the_lease_from_others(db: Database) -> None:
    first = await db.leases.acquire("acme", "a", TTL, now=T0)
    later = T0 + timedelta(seconds=40)
    renewed = await db.leases.renew("acme", "a", TTL, now=later)
    assert renewed is not None
    assert (renewed.acquired_at, renewed.heartbeat_at, renewed.expires_at) == (first.acquired_at, later, later + TTL)
    # Past the first expiry, but renewed: still held.
    assert (await db.leases.acquire("acme", "b", TTL, now=T0 + TTL)).holder == "a"


async def test_only_the_holder_renews(db: Database) -> None:
    mine = await db.leases.acquire("acme", "a", TTL, now=T0)
    assert await db.leases.renew("acme", "b", TTL, now=T0 + timedelta(seconds=5)) is None
    assert await db.leases.renew("nobody-holds-this", "a", TTL, now=T0) is None
    assert await db.leases.get("acme") == mine
    assert await db.leases.get("nobody-holds-this") is None  # a renewal never creates a lease


async def test_a_released_lease_is_free_at_once_and_only_the_holder_releases(db: Database) -> None:
    await db.leases.acquire("acme", "a", TTL, now=T0)
    assert await db.leases.release("acme", "b") is False
    assert await db.leases.get("acme") is not None
    assert await db.leases.release("acme", "a") is True
    assert await db.leases.get("acme") is None
    assert await db.leases.renew("acme", "a", TTL, now=T0) is None  # released means lost to its old holder
    assert (await db.leases.acquire("acme", "b", TTL, now=T0 + timedelta(seconds=1))).holder == "b"


async def test_leases_are_per_account(db: Database) -> None:
    await db.leases.acquire("acme", "a", TTL, now=T0)
    assert (await db.leases.acquire("globex", "b", TTL, now=T0)).holder == "b"


async def test_of_many_racing_for_a_free_lease_exactly_one_wins(db: Database) -> None:
    holders = [f"daemon-{n}" for n in range(8)]
    results = await asyncio.gather(*(db.leases.acquire("acme", holder, TTL, now=T0) for holder in holders))
    winners = {lease.holder for lease in results}
    assert len(winners) == 1
    assert all(lease.holder == next(iter(winners)) for lease in results)


async def test_a_lease_is_taken_over_from_a_named_holder_only(db: Database) -> None:
    await db.leases.acquire("acme", "a", TTL, now=T0)
    assert await db.leases.take_over("acme", "c", "b", TTL, now=T0) is None
    taken = await db.leases.take_over("acme", "c", "a", TTL, now=T0 + timedelta(seconds=1))
    assert taken is not None and taken.holder == "c" and taken.acquired_at == T0 + timedelta(seconds=1)
    assert await db.leases.take_over("globex", "c", "a", TTL, now=T0) is None  # never creates a lease
    assert await db.leases.get("globex") is None
