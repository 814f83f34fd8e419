"""The shared retry policy and Retry-After parsing, with a recorded sleep instead of real waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tenacity import RetryCallState

from bot.resilience import parse_retry_after, retry_policy

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after = retry_after


class Permanent(Exception):
    pass


class Script:
    """Raises the given errors in turn, then returns "ok"; counts calls and records the waits asked for."""

    def __init__(self, *errors: Exception) -> None:
        self._errors = list(errors)
        self.calls = 0
        self.waits: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self._errors:
            raise self._errors.pop(0)
        return "ok"

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(script: Script, **overrides: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "retryable": lambda error: isinstance(error, Transient),
        "attempts": 3,
        "initial_wait_s": 0.5,
        "max_wait_s": 8.0,
        "retry_after": lambda error: getattr(error, "retry_after", None),
        "sleep": script.sleep,
    }
    options.update(overrides)
    return retry_policy(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("0.25", 0.25),
        ("Sun, 01 Jun 2025 12:00:30 GMT", 30.0),
        ("Sunday, 01-Jun-25 12:01:00 GMT", 60.0),  # the obsolete RFC 850 form
        ("Sun, 01 Jun 2025 11:59:00 GMT", 0.0),  # already past: go now
        ("Sun, 01 Jun 2025 12:00:10 -0000", 10.0),
        ("-5", None),
        ("1e3", None),
        ("soon", None),
        ("", None),
        ("Sun, 99 Jun 2025 12:00:00 GMT", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_date_defaults_to_the_clock() -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=100)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 95 <= (parse_retry_after(soon) or 0) <= 100


async def test_success_after_transient_failures_with_growing_jittered_waits() -> None:
    script = Script(Transient(), Transient())
    assert await policy(script)(script) == "ok"
    assert script.calls == 3
    first, second = script.waits
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 1.5


async def test_a_permanent_error_is_raised_after_one_call() -> None:
    script = Script(Permanent(), Transient())
    with pytest.raises(Permanent):
        await policy(script)(script)
    assert (script.calls, script.waits) == (1, [])


@pytest.mark.parametrize("attempts", [1, 2, 5])
async def test_never_more_calls_than_attempts(attempts: int) -> None:
    script = Script(*(Transient() for _ in range(10)))
    with pytest.raises(Transient):
        await policy(script, attempts=attempts)(script)
    assert script.calls == attempts
    assert len(script.waits) == attempts - 1


async def test_waits_never_exceed_the_maximum() -> None:
    script = Script(*(Transient() for _ in range(10)))
    with pytest.raises(Transient):
        await policy(script, attempts=8, initial_wait_s=1.0, max_wait_s=3.0)(script)
    assert max(script.waits) <= 3.0


async def test_the_wait_the_server_asked_for_replaces_the_backoff() -> None:
    script = Script(Transient(retry_after=2.5), Transient(retry_after=0.0))
    assert await policy(script)(script) == "ok"
    assert script.waits == [2.5, 0.0]


@pytest.mark.parametrize(
    ("asked", "overrides"),
    [
        (9.0, {"max_wait_s": 8.0}),  # longer than we wait between calls
        (4.0, {"deadline_s": 3.0}),  # would end past the deadline
        (3.0, {"deadline_s": 3.0}),  # would end exactly at it: no time left for the call
    ],
)
async def test_a_server_asked_wait_too_long_stops_at_once(asked: float, overrides: dict[str, float]) -> None:
    script = Script(Transient(retry_after=asked))
    with pytest.raises(Transient):
        await policy(script, **overrides)(script)
    assert (script.calls, script.waits) == (1, [])


async def test_a_backoff_past_the_deadline_stops() -> None:
    script = Script(Transient(), Transient())
    with pytest.raises(Transient):
        await policy(script, initial_wait_s=1.0, deadline_s=0.9)(script)
    assert script.calls == 1


async def test_before_sleep_sees_each_retry() -> None:
    seen: list[tuple[int, float]] = []

    def note(state: RetryCallState) -> None:
        seen.append((state.attempt_number, state.upcoming_sleep))

    script = Script(Transient(retry_after=1.0), Transient(retry_after=2.0), Transient())
    with pytest.raises(Transient):
        await policy(script, before_sleep=note)(script)
    assert seen == [(1, 1.0), (2, 2.0)]  # the last failure is not followed by a sleep


@pytest.mark.parametrize("overrides", [{"attempts": 0}, {"initial_wait_s": -1.0}])
def test_nonsense_is_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        policy(Script(), **overrides)
