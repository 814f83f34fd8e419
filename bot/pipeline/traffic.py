"""How fast each contact writes: when a turn may start (burst coalescing) and when a contact floods.

People write in fragments ("hi" / "quick question" / "do you open on Sunday?"): a contact's turn waits until they
have been quiet for `quiet_s` (at most `max_wait_s`), so that one reply answers all of it. A contact writing
faster than `soft_per_minute` waits longer (`flood_quiet_s`); one past `hard_per_minute` is to be paused for a
while (the worker keeps the pause with the contact), so one person cannot burn the AI budget or starve the
others. Only arrival times are kept, for the last minute, and contacts that went quiet are forgotten.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class TrafficRules:
    quiet_s: float = 2.0
    max_wait_s: float = 10.0
    soft_per_minute: int = 10  # 0: no limit
    flood_quiet_s: float = 15.0
    hard_per_minute: int = 20  # 0: no limit


class Traffic:
    def __init__(
        self,
        rules: TrafficRules,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.rules = rules
        self._clock = clock
        self._sleep = sleep
        self._arrivals: dict[str, deque[float]] = {}

    def arrived(self, contact_id: str) -> None:
        """A message of this contact was stored."""
        now = self._clock()
        arrivals = self._arrivals.setdefault(contact_id, deque())
        arrivals.append(now)
        self._forget_older(arrivals, now)
        if len(self._arrivals) > 1024:  # prune the contacts that went quiet, now and then
            for key in [key for key, times in self._arrivals.items() if now - times[-1] > WINDOW_S]:
                del self._arrivals[key]

    def per_minute(self, contact_id: str) -> int:
        arrivals = self._arrivals.get(contact_id)
        if not arrivals:
            return 0
        self._forget_older(arrivals, self._clock())
        return len(arrivals)

    def flooding(self, contact_id: str) -> bool:
        """Past the hard limit: the contact is to be paused."""
        limit = self.rules.hard_per_minute
        return bool(limit) and self.per_minute(contact_id) > limit

    def quiet_needed(self, contact_id: str) -> float:
        soft = self.rules.soft_per_minute
        if soft and self.per_minute(contact_id) > soft:
            return max(self.rules.quiet_s, self.rules.flood_quiet_s)
        return self.rules.quiet_s

    async def until_quiet(self, contact_id: str) -> None:
        """Wait until the contact has stopped writing for a moment (never longer than max_wait_s, or the flood
        quiet time for a contact writing past the soft limit)."""
        started = self._clock()
        while True:
            arrivals = self._arrivals.get(contact_id)
            quiet = self.quiet_needed(contact_id)
            if not arrivals or quiet <= 0:
                return
            now = self._clock()
            wait = min(arrivals[-1] + quiet - now, started + max(self.rules.max_wait_s, quiet) - now)
            if wait <= 0:
                return
            await self._sleep(wait)

    @staticmethod
    def _forget_older(arrivals: deque[float], now: float) -> None:
        while arrivals and now - arrivals[0] > WINDOW_S:
            arrivals.popleft()
