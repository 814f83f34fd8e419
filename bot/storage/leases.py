"""Leases: which daemon drives an account. One document per account in `leases` (`_id` = the account name);
only the holder of an unexpired lease may open the account's browser profile and send.

Every change is one atomic, holder-guarded write, so two daemons racing for a lease cannot both win. Times are
the daemon's own clock (each call takes `now`, for tests and for the caller's own clock), not the database
server's: the daemons sharing a database must keep their clocks within a few seconds of each other (NTP), which
the README asks of operators.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from bot.storage.models import Document, utc_now

# Two daemons racing for a missing document can both fail their upsert; a few rounds settle who won.
_ACQUIRE_ROUNDS = 3


class Lease(Document):
    """The account's lease as stored; `id` is the account name."""

    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


class LeaseRepository:
    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def acquire(self, account: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> Lease:
        """Take the lease if it is free, expired or already `holder`'s; return the lease as it stands, so that
        `lease.holder == holder` says whether it was taken (otherwise it names who holds it, and until when)."""
        now = _to_ms(now or utc_now())
        for _ in range(_ACQUIRE_ROUNDS):
            try:
                raw = await self._collection.find_one_and_update(
                    {"_id": account, "$or": [{"holder": holder}, {"expires_at": {"$lte": now}}]},
                    {"$set": {"holder": holder, "acquired_at": now, "heartbeat_at": now, "expires_at": now + ttl}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return Lease.from_mongo(raw)
            except DuplicateKeyError:
                # The document exists and did not match: someone else holds an unexpired lease.
                current = await self.get(account)
                if current is not None:
                    return current
                # Released between the two calls: try again.
        raise RuntimeError(f"the lease of account {account} changed hands {_ACQUIRE_ROUNDS} times in a row")

    async def take_over(
        self, account: str, holder: str, dead_holder: str, ttl: timedelta, *, now: datetime | None = None
    ) -> Lease | None:
        """Take the lease from `dead_holder` before it expires (the caller knows that process is gone); None if
        it is no longer `dead_holder`'s."""
        now = _to_ms(now or utc_now())
        raw = await self._collection.find_one_and_update(
            {"_id": account, "holder": dead_holder},
            {"$set": {"holder": holder, "acquired_at": now, "heartbeat_at": now, "expires_at": now + ttl}},
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else Lease.from_mongo(raw)

    async def renew(self, account: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> Lease | None:
        """Push the expiry to now + ttl; None if the lease is no longer `holder`'s (taken over, or released)."""
        now = _to_ms(now or utc_now())
        raw = await self._collection.find_one_and_update(
            {"_id": account, "holder": holder},
            {"$set": {"heartbeat_at": now, "expires_at": now + ttl}},
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else Lease.from_mongo(raw)

    async def release(self, account: str, holder: str) -> bool:
        """Free the lease at once (a standby need not wait for it to expire); False if it was not `holder`'s."""
        result = await self._collection.delete_one({"_id": account, "holder": holder})
        return bool(result.deleted_count)

    async def get(self, account: str) -> Lease | None:
        raw = await self._collection.find_one({"_id": account})
        return None if raw is None else Lease.from_mongo(raw)


def _to_ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: with this, the times handed back equal the ones written."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
