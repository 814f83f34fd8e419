"""One retry policy for every adapter that calls a service over the network (Gemini now, MongoDB later).

A retry is only worth it for trouble that can pass: the caller says which errors those are. Waits grow
exponentially with jitter, so that many conversations failing together do not come back together; a wait the
server asks for (Retry-After) replaces the computed one, and when that wait is longer than the caller is willing
to wait, or would end past the deadline, the policy gives up at once instead of calling early and earning another
refusal.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base
from tenacity.wait import wait_base

Retryable = Callable[[BaseException], bool]
RetryAfter = Callable[[BaseException], float | None]
BeforeSleep = Callable[[RetryCallState], None]

_DELAY_SECONDS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")


def retry_policy(
    *,
    retryable: Retryable,
    attempts: int,
    initial_wait_s: float,
    max_wait_s: float,
    deadline_s: float | None = None,
    retry_after: RetryAfter | None = None,
    before_sleep: BeforeSleep | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """An AsyncRetrying that makes at most `attempts` calls and re-raises the last error.

    Build one per operation: tenacity keeps the state of a run (attempt number, statistics) on the object.
    `retryable` says which errors may pass on a second try; `retry_after` reads a wait the server asked for from
    an error (None: it did not ask). `deadline_s` counts from the first call: no wait is started that would end
    at or after it. The caller still bounds the whole run (asyncio.timeout), since a call itself can be slow.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be 1 or more, not {attempts}")
    if initial_wait_s < 0 or max_wait_s < 0:
        raise ValueError("waits cannot be negative")
    backoff = wait_exponential_jitter(initial=initial_wait_s, max=max_wait_s, jitter=initial_wait_s)
    return AsyncRetrying(
        retry=retry_if_exception(retryable),
        stop=stop_after_attempt(attempts) | _WaitTooLong(max_wait_s, deadline_s),
        wait=_ServerAskedWait(retry_after, backoff) if retry_after is not None else backoff,
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After value: delay-seconds or an HTTP date (RFC 9110, 10.2.3).

    Fractions of a second are accepted too (some servers and the simulator send them). Anything unreadable is
    None, so a malformed header falls back to the computed backoff rather than failing the call.
    """
    if value is None:
        return None
    if match := _DELAY_SECONDS.fullmatch(value):
        return float(match.group(1))
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000" in an HTTP date means UTC without saying so
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class _ServerAskedWait(wait_base):
    """The server's Retry-After when the error carries one, else the exponential backoff."""

    def __init__(self, retry_after: RetryAfter, backoff: wait_base) -> None:
        self._retry_after = retry_after
        self._backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if error is not None and (asked := self._retry_after(error)) is not None:
            # Uncapped on purpose: _WaitTooLong must see how long the server asked for, to give up on it.
            return max(0.0, asked)
        return float(self._backoff(retry_state))


class _WaitTooLong(stop_base):
    """Stops when the next wait is longer than the longest wait allowed, or would end at or past the deadline."""

    def __init__(self, max_wait_s: float, deadline_s: float | None) -> None:
        self._max_wait_s = max_wait_s
        self._deadline_s = deadline_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep
        if upcoming > self._max_wait_s:
            return True
        if self._deadline_s is None:
            return False
        return (retry_state.seconds_since_start or 0.0) + upcoming >= self._deadline_s
