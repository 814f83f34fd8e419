"""The circuit breaker's states and timing, on a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from bot.resilience import BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[BreakerState, BreakerState]]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[tuple[BreakerState, BreakerState]]) -> CircuitBreaker:
    made = CircuitBreaker("ai", failures=3, window_s=60.0, open_s=30.0, clock=clock)
    made.subscribe(lambda old, new: changes.append((old, new)))
    return made


@pytest.fixture
def lines() -> Iterator[list[tuple[str, str]]]:
    """(level, message) of every line logged."""
    logged: list[tuple[str, str]] = []
    sink = logger.add(lambda m: logged.append((m.record["level"].name, m.record["message"])), level="DEBUG")
    try:
        yield logged
    finally:
        logger.remove(sink)


def open_it(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failures):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is OPEN


def test_states_have_string_values() -> None:
    assert [state.value for state in BreakerState] == ["closed", "open", "half-open"]
    assert f"{HALF_OPEN}" == "half-open"


def test_closed_allows_calls_and_opens_after_enough_failures(breaker: CircuitBreaker, clock: Clock) -> None:
    assert breaker.state is CLOSED and breaker.allow()
    assert (breaker.opened_at, breaker.retry_at, breaker.retry_in_s()) == (None, None, None)
    breaker.failed()
    breaker.succeeded()  # successes while closed do not wipe out the failures counted
    breaker.failed()
    assert breaker.state is CLOSED and breaker.allow()
    clock.now += 5
    breaker.failed()
    assert breaker.state is OPEN
    assert (breaker.opened_at, breaker.retry_at, breaker.retry_in_s()) == (1005.0, 1035.0, 30.0)
    assert not breaker.allow()


def test_failures_older_than_the_window_do_not_count(breaker: CircuitBreaker, clock: Clock) -> None:
    breaker.failed()
    breaker.failed()
    clock.now += 60  # both are now exactly window_s old: out
    breaker.failed()
    breaker.failed()
    assert breaker.state is CLOSED
    clock.now += 59
    breaker.failed()  # three within 59 s
    assert breaker.state is OPEN


def test_open_refuses_until_open_s_then_lets_one_probe_through(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[BreakerState, BreakerState]]
) -> None:
    open_it(breaker)
    clock.now += 29.9
    assert not breaker.allow() and breaker.state is OPEN
    assert breaker.retry_in_s() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.retry_in_s() == 0.0
    assert breaker.state is OPEN  # until somebody asks
    assert breaker.allow()  # the probe
    assert breaker.state is HALF_OPEN and breaker.retry_at is None
    assert not breaker.allow() and not breaker.allow()  # everyone else waits for the probe
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_a_probe_success_closes_and_forgets_the_failures(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[BreakerState, BreakerState]]
) -> None:
    open_it(breaker)
    clock.now += 30
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is CLOSED and breaker.opened_at is None
    assert changes[-1] == (HALF_OPEN, CLOSED)
    assert breaker.allow() and breaker.allow()
    breaker.failed()
    breaker.failed()
    assert breaker.state is CLOSED  # the failures from before it opened are gone


def test_a_probe_failure_opens_it_again_for_open_s(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[BreakerState, BreakerState]]
) -> None:
    open_it(breaker)
    clock.now += 30
    assert breaker.allow()
    breaker.failed()
    assert breaker.state is OPEN
    assert breaker.retry_at == clock.now + 30
    assert not breaker.allow()
    clock.now += 30
    assert breaker.allow()
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN)]


def test_a_probe_that_says_nothing_hands_the_probe_to_the_next_caller(breaker: CircuitBreaker, clock: Clock) -> None:
    open_it(breaker)
    clock.now += 30
    assert breaker.allow()
    assert not breaker.allow()
    breaker.released()  # e.g. the request itself was refused (HTTP 400), or cancelled
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()


def test_late_outcomes_while_open_change_nothing(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[BreakerState, BreakerState]]
) -> None:
    open_it(breaker)
    opened_at = breaker.opened_at
    clock.now += 10
    breaker.succeeded()  # a call let through before it opened
    breaker.failed()
    breaker.released()
    assert (breaker.state, breaker.opened_at) == (OPEN, opened_at)
    assert changes == [(CLOSED, OPEN)]


def test_each_change_logs_one_line_naming_the_breaker(breaker: CircuitBreaker, clock: Clock, lines: list) -> None:
    open_it(breaker)
    clock.now += 30
    breaker.allow()
    breaker.failed()
    clock.now += 30
    breaker.allow()
    breaker.succeeded()
    assert [level for level, _ in lines] == ["WARNING", "INFO", "WARNING", "INFO", "SUCCESS"]
    assert all(message.startswith("circuit breaker ai: ") for _, message in lines)
    assert lines[0][1] == "circuit breaker ai: open (3 failures within 60 s; no calls for 30 s)"
    assert lines[-1][1] == "circuit breaker ai: closed (the probe call succeeded)"


def test_a_failing_listener_neither_breaks_the_breaker_nor_the_others(
    breaker: CircuitBreaker, changes: list[tuple[BreakerState, BreakerState]], lines: list
) -> None:
    def broken(old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    breaker.subscribe(broken)
    later: list[BreakerState] = []
    breaker.subscribe(lambda old, new: later.append(new))
    open_it(breaker)
    assert changes == [(CLOSED, OPEN)] and later == [OPEN]
    assert any(level == "ERROR" and "listener failed" in message for level, message in lines)


def test_unsubscribe(breaker: CircuitBreaker, clock: Clock) -> None:
    seen: list[BreakerState] = []
    unsubscribe = breaker.subscribe(lambda old, new: seen.append(new))
    open_it(breaker)
    unsubscribe()
    clock.now += 30
    breaker.allow()
    assert seen == [OPEN]


@pytest.mark.parametrize(
    "arguments", [{"failures": 0}, {"window_s": 0.0}, {"open_s": -1.0}], ids=["failures", "window", "open"]
)
def test_nonsense_settings_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("ai", **{"failures": 3, "window_s": 60.0, "open_s": 30.0, **arguments})  # type: ignore[arg-type]
