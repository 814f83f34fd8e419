"""One daemon per account: the account's lease in MongoDB is taken before the browser profile is touched, renewed
in the background while the daemon runs, and released on a clean stop.

Two daemons on one WhatsApp account would answer every message twice and fight over WhatsApp Web's single
session, whether they run on one server or on two sharing a database. A daemon that finds the lease taken exits
(or, as a standby, waits for it to expire); a daemon that loses it (taken over after it was too slow to renew,
say a paused VM, or unrenewable until it expired because MongoDB did not answer) must stop sending at once, since
another daemon may be answering already: `on_lost` is called and `wait_lost` raises.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from loguru import logger

from bot.errors import AccountInUse, StorageUnavailable
from bot.ops.tasks import TaskSet
from bot.settings import Settings
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.leases import Lease, LeaseRepository
from bot.storage.models import utc_now


def new_holder_id() -> str:
    """Unique per daemon process, and readable in a log line: which server, which process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class AccountLease:
    """The lease one daemon holds on one account: `acquire`, then `start` renewing, `release` on stop."""

    def __init__(
        self,
        leases: LeaseRepository,
        account: str,
        *,
        ttl_s: float,
        renew_s: float,
        wait: bool = False,
        holder: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_lost: Callable[[], None] | None = None,
        on_standby: Callable[[str, float], None] | None = None,
    ) -> None:
        """`on_standby(why, next_try_s)` is called before each wait as a standby (systemd is told the start-up
        goes on: a standby may wait far longer than a start-up timeout)."""
        self._leases = leases
        self.account = account
        self.holder = holder or new_holder_id()
        self._ttl = timedelta(seconds=ttl_s)
        self._renew_s = renew_s
        self._wait = wait
        self._clock = clock
        self._on_lost = on_lost
        self._on_standby = on_standby
        self._expires_at: datetime | None = None  # set while held
        self._lost: asyncio.Future[None] | None = None
        self._tasks = TaskSet()

    @classmethod
    def from_settings(
        cls,
        leases: LeaseRepository,
        settings: Settings,
        *,
        on_lost: Callable[[], None] | None = None,
        on_standby: Callable[[str, float], None] | None = None,
    ) -> AccountLease:
        return cls(
            leases,
            settings.account,
            ttl_s=settings.lease_ttl_s,
            renew_s=settings.lease_renew_s,
            wait=settings.lease_wait,
            on_lost=on_lost,
            on_standby=on_standby,
        )

    @property
    def held(self) -> bool:
        """Whether this daemon may act for the account now: acquired, not lost, not expired by its own clock."""
        return self._expires_at is not None and not self.lost and self._clock() < self._expires_at

    @property
    def lost(self) -> bool:
        """Taken over, or not renewed before it expired: another daemon may be answering."""
        return self._lost is not None and self._lost.done()

    @property
    def expires_at(self) -> datetime | None:
        return self._expires_at

    async def acquire(self) -> None:
        """Take the lease, or raise AccountInUse naming its holder; with `wait`, wait as a standby until it is
        free or expired. Raises StorageUnavailable if MongoDB does not answer (when not waiting)."""
        announced: str | None = None
        while True:
            try:
                lease = await self._leases.acquire(self.account, self.holder, self._ttl, now=self._clock())
                if lease.holder != self.holder and died_here(lease.holder):
                    # A crash of this server's previous daemon (kill -9, OOM) need not keep its restart out until
                    # the lease expires.
                    dead = lease.holder
                    taken = await self._leases.take_over(self.account, self.holder, dead, self._ttl, now=self._clock())
                    if taken is None:
                        continue  # someone else was quicker: look again
                    lease = taken
                    logger.warning(
                        "account {}: lease taken over from {}, a process of this server that is gone",
                        self.account,
                        dead,
                    )
            except OUTAGE_ERRORS as error:
                if not self._wait:
                    raise StorageUnavailable(
                        f"MongoDB did not answer while taking the account's lease: {error}"
                    ) from error
                logger.warning(
                    "standby for account {}: MongoDB does not answer ({}); trying again", self.account, error
                )
                await asyncio.sleep(self._renew_s)
                continue
            if lease.holder == self.holder:
                self._expires_at = lease.expires_at
                logger.info("account {}: lease taken by this daemon ({})", self.account, self.holder)
                return
            if not self._wait:
                raise AccountInUse(
                    f"account {self.account} is driven by another daemon: {_describe(lease)}; "
                    "stop that one first, or set LEASE_WAIT=true to wait as a standby"
                )
            if lease.holder != announced:
                logger.warning(
                    "account {} is driven by another daemon: {}; waiting as a standby to take over",
                    self.account,
                    _describe(lease),
                )
                announced = lease.holder
            # Released leases are taken at the next try; expired ones as soon as they expire.
            until_expiry = (lease.expires_at - self._clock()).total_seconds()
            pause_s = max(0.0, min(self._renew_s, until_expiry))
            if self._on_standby is not None:
                self._on_standby(f"standby: account {self.account} is driven by {lease.holder}", pause_s)
            await asyncio.sleep(pause_s)

    def start(self) -> None:
        """Renew the lease in the background until `release` (or until it is lost)."""
        if self._expires_at is None:
            raise RuntimeError("acquire the lease first")
        self._lost = asyncio.get_running_loop().create_future()
        self._tasks.spawn(self._keep(), name="lease:renew")

    async def wait_lost(self) -> None:
        """Returns only by raising AccountInUse, once the lease is lost."""
        if self._lost is None:
            raise RuntimeError("the lease is not started")
        # Shielded: a caller that stops waiting must not cancel the outcome for everyone else.
        await asyncio.shield(self._lost)

    async def check(self) -> None:
        """Raise AccountInUse if the lease is lost already (before a step that must not run without it)."""
        if self.lost:
            await self.wait_lost()

    async def _keep(self) -> None:
        assert self._expires_at is not None
        failing = False
        while True:
            # Wake at the expiry at the latest: past it, another daemon may be answering already.
            await asyncio.sleep(max(0.0, min(self._renew_s, self._seconds_left())))
            try:
                async with asyncio.timeout(max(self._seconds_left(), 0.1)):
                    lease = await self._leases.renew(self.account, self.holder, self._ttl, now=self._clock())
            except (*OUTAGE_ERRORS, TimeoutError) as error:
                if self._seconds_left() <= 0:
                    self._lose(
                        f"MongoDB did not answer until the lease expired at {self._expires_at:%H:%M:%S} UTC "
                        f"({str(error) or 'no answer'}); another daemon may have taken over"
                    )
                    return
                if not failing:
                    failing = True
                    logger.warning(
                        "account {}: the lease could not be renewed ({}); retrying until it expires at {:%H:%M:%S} UTC",
                        self.account,
                        str(error) or "no answer",
                        self._expires_at,
                    )
                continue
            except Exception as error:
                # A keeper that died silently would leave the daemon running on a lease that quietly expires.
                self._lose(f"renewing the lease failed: {error!r}")
                raise
            if lease is None:
                self._lose(await self._taken_by())
                return
            if failing:
                logger.info("account {}: lease renewed again", self.account)
                failing = False
            self._expires_at = lease.expires_at

    def _seconds_left(self) -> float:
        assert self._expires_at is not None
        return (self._expires_at - self._clock()).total_seconds()

    async def _taken_by(self) -> str:
        try:
            current = await self._leases.get(self.account)
        except OUTAGE_ERRORS:
            current = None
        if current is None:
            return "the lease was taken over, and released since"
        return f"the lease was taken over: {_describe(current)}"

    def _lose(self, why: str) -> None:
        logger.error("account {}: lease LOST, this daemon stops sending and stops: {}", self.account, why)
        assert self._lost is not None
        if not self._lost.done():
            self._lost.set_exception(AccountInUse(f"account {self.account}: {why}"))
            self._lost.exception()  # retrieved here: nobody may be waiting (a stop already under way)
        if self._on_lost is not None:
            self._on_lost()

    async def release(self) -> None:
        """Stop renewing and free the lease, if this daemon still holds it, so a standby may take over at once.
        A lease that cannot be released (MongoDB down) simply expires."""
        await self._tasks.cancel()
        if self._expires_at is None or self.lost:
            return
        expires_at, self._expires_at = self._expires_at, None
        try:
            released = await self._leases.release(self.account, self.holder)
        except OUTAGE_ERRORS as error:
            logger.warning(
                "account {}: lease not released ({}); it expires at {:%H:%M:%S} UTC", self.account, error, expires_at
            )
            return
        if released:
            logger.info("account {}: lease released", self.account)


def died_here(holder: str) -> bool:
    """Whether `holder` was a process of this server (same host name) that no longer exists. A process that
    exists, even another one with a reused pid, or one that cannot be checked, counts as alive: its lease is
    then left to expire."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _describe(lease: Lease) -> str:
    return (
        f"{lease.holder} (renewed {lease.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"expires {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
