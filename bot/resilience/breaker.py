"""A circuit breaker: after enough failures in a short time, stop calling a service that is down, then try it
again with one call at a time.

Without it, every message that arrives during an outage spends its full allowance of calls and waits before
falling back; with it, the first few failures pay for everyone and the rest fall back at once. It counts single
calls, not whole operations, so retries stop as soon as it opens.

Not thread-safe on purpose: one event loop owns it, and no method awaits, so no call can interleave with another.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from loguru import logger


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through; failures are counted
    OPEN = "open"  # no calls until open_s has passed
    HALF_OPEN = "half-open"  # one probe call decides: closed again, or open again


Listener = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """Opens after `failures` failures within `window_s` seconds, refuses calls for `open_s` seconds, then lets
    one probe through: its success closes the breaker, its failure opens it again for `open_s`.

    The caller asks `allow()` before each call and reports the outcome with `succeeded()`, `failed()`, or
    `released()` when the outcome says nothing about the service (the request itself was wrong, or was cancelled).
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        window_s: float,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be 1 or more, not {failures}")
        if window_s <= 0 or open_s <= 0:
            raise ValueError("window_s and open_s must be positive")
        self.name = name
        self.failures = failures
        self.window_s = window_s
        self.open_s = open_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failed_at: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False
        self._listeners: list[Listener] = []

    @property
    def state(self) -> BreakerState:
        """Stays OPEN after open_s has passed until a caller asks to go: only a probe makes it HALF_OPEN."""
        return self._state

    @property
    def opened_at(self) -> float | None:
        """Clock time at which it last opened; None while closed."""
        return self._opened_at if self._state is not BreakerState.CLOSED else None

    @property
    def retry_at(self) -> float | None:
        """Clock time from which a probe may go; None unless open."""
        if self._state is not BreakerState.OPEN or self._opened_at is None:
            return None
        return self._opened_at + self.open_s

    def retry_in_s(self) -> float | None:
        """Seconds until a probe may go (0 when one may go now); None unless open."""
        retry_at = self.retry_at
        return None if retry_at is None else max(0.0, retry_at - self._clock())

    def allow(self) -> bool:
        """Whether a call may go now. In half-open, True only once: for the probe, until it reports."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            retry_at = self.retry_at
            if retry_at is None or self._clock() < retry_at:
                return False
            self._change(BreakerState.HALF_OPEN, "letting one probe call through")
        if self._probing:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        # While open, a late success of a call let through before it opened proves little; the probe decides.
        if self._state is BreakerState.HALF_OPEN:
            self._failed_at.clear()
            self._probing = False
            self._opened_at = None
            self._change(BreakerState.CLOSED, "the probe call succeeded")

    def failed(self) -> None:
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN:
            self._open(now, f"the probe call failed; next probe in {self.open_s:g} s")
        elif self._state is BreakerState.CLOSED:
            self._failed_at.append(now)
            while self._failed_at and self._failed_at[0] <= now - self.window_s:
                self._failed_at.popleft()
            if len(self._failed_at) >= self.failures:
                self._open(
                    now,
                    f"{len(self._failed_at)} failures within {self.window_s:g} s; no calls for {self.open_s:g} s",
                )

    def released(self) -> None:
        """The call ended without telling whether the service works: in half-open, the next caller probes."""
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(old, new)` on every change, synchronously; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _open(self, now: float, why: str) -> None:
        self._failed_at.clear()
        self._probing = False
        self._opened_at = now
        self._change(BreakerState.OPEN, why)

    def _change(self, new: BreakerState, why: str) -> None:
        old, self._state = self._state, new
        level = {BreakerState.OPEN: "WARNING", BreakerState.HALF_OPEN: "INFO", BreakerState.CLOSED: "SUCCESS"}[new]
        logger.log(level, "circuit breaker {}: {} ({})", self.name, new.value, why)
        for listener in list(self._listeners):
            try:
                listener(old, new)
            except Exception:
                # A listener's bug must not leave the breaker half-changed or fail the call that reported.
                logger.exception("circuit breaker {}: a listener failed on {} -> {}", self.name, old, new)
