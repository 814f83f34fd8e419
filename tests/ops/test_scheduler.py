"""The scheduler: its jobs per the settings, the health check, scheduled messages on connect, a stop that does
not wait for a stuck job, jobs that never raise, the daily summary and the browser restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from pymongo.errors import ConnectionFailure

from bot.ops.scheduler import (
    HEALTH_JOB,
    RESTART_JOB,
    RETENTION_JOB,
    SCHEDULED_JOB,
    SUMMARY_JOB,
    Scheduler,
)
from bot.resilience import CircuitBreaker
from bot.settings import Settings
from bot.storage import Database, utc_now
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus
from bot.whatsapp import ConnectionState, StateChange

from ..waiting import wait_until

TO = "15551234567@c.us"


class FakeWhatsApp:
    """The client as the scheduler sees it: a state to watch, a page, sends (which may hang)."""

    def __init__(self, state: ConnectionState = ConnectionState.CONNECTED) -> None:
        self.state = state
        self.handlers: list[Callable[[StateChange], None]] = []
        self.sent: list[str] = []
        self.hang = False
        self.page: Any = None

    def subscribe(self, handler: Callable[[StateChange], None]) -> None:
        self.handlers.append(handler)

    def connect(self) -> None:
        previous, self.state = self.state, ConnectionState.CONNECTED
        for handler in self.handlers:
            handler(StateChange(previous=previous, current=self.state, reason="test"))

    async def send_text(self, chat_id: str, text: str, *, message_id: str, maybe_sent: bool = False) -> str:
        if self.hang:
            await asyncio.Event().wait()
        self.sent.append(text)
        return f"true_{chat_id}_{message_id}"

    async def find_sent(self, chat_id: str, message_id: str) -> str | None:
        return None


class FakeStorage:
    def __init__(self) -> None:
        self.up = True
        self.failures: list[BaseException] = []

    def failed(self, error: BaseException) -> None:
        self.failures.append(error)


class Notices:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notice(self, key: str, text: str) -> None:
        self.sent.append((key, text))


class DownDatabase:
    async def ping(self) -> None:
        raise ConnectionFailure("connection refused")


def make_settings(**changes: Any) -> Settings:
    return Settings(_env_file=None, operator_timezone="Europe/Madrid", **changes)  # type: ignore[call-arg]


def breaker(name: str = "ai") -> CircuitBreaker:
    return CircuitBreaker(name, failures=1, window_s=60, open_s=60)


def make_scheduler(db: Any, whatsapp: FakeWhatsApp, settings: Settings | None = None, **parts: Any) -> Scheduler:
    return Scheduler(
        settings or make_settings(),
        db=db,
        whatsapp=whatsapp,  # type: ignore[arg-type]
        ai_breaker=parts.pop("ai_breaker", breaker()),
        **parts,
    )


async def add_due(db: Database, text: str = "happy birthday!") -> ScheduledMessage:
    message = ScheduledMessage(to=TO, text=text, at=utc_now() - timedelta(seconds=1), message_id="3EB0AA")
    return await db.scheduled.add(message)


async def test_jobs_follow_the_settings_and_daily_ones_run_at_the_operators_time(db: Database) -> None:
    scheduler = make_scheduler(db, FakeWhatsApp(), make_settings(browser_restart_at="04:15"))
    scheduler.start()
    try:
        jobs = scheduler.jobs
        assert set(jobs) == {HEALTH_JOB, SCHEDULED_JOB, RETENTION_JOB, SUMMARY_JOB, RESTART_JOB}
        local = {name: f"{jobs[name]:%H:%M}" for name in (RETENTION_JOB, SUMMARY_JOB, RESTART_JOB)}
        assert local == {RETENTION_JOB: "03:30", SUMMARY_JOB: "20:00", RESTART_JOB: "04:15"}
        assert str(jobs[SUMMARY_JOB].tzinfo) == "Europe/Madrid"  # type: ignore[union-attr]
    finally:
        await scheduler.stop()

    quiet = make_scheduler(db, FakeWhatsApp(), make_settings(daily_summary_at="off", retention_days=0))
    quiet.start()
    try:
        assert set(quiet.jobs) == {HEALTH_JOB, SCHEDULED_JOB}
    finally:
        await quiet.stop()


async def test_health_check_reports_what_is_wrong_and_reports_a_database_outage(db: Database) -> None:
    whatsapp = FakeWhatsApp()
    ai = breaker()
    scheduler = make_scheduler(db, whatsapp, ai_breaker=ai)
    report = await scheduler.check_health()
    assert report.ok and report.database and report.whatsapp == "connected" and report.ai_breaker == "closed"
    assert scheduler.health is report

    storage = FakeStorage()
    whatsapp.state = ConnectionState.OFFLINE
    ai.failed()  # one failure opens this breaker
    down = make_scheduler(DownDatabase(), whatsapp, ai_breaker=ai, storage=storage)
    report = await down.check_health()
    assert not report.ok and not report.database
    assert report.problems == [
        "MongoDB does not answer",
        "WhatsApp is offline",
        "the model is failing (AI breaker open)",
    ]
    assert len(storage.failures) == 1  # the outage machinery takes it from there


async def test_the_health_check_runs_at_start(db: Database) -> None:
    scheduler = make_scheduler(db, FakeWhatsApp())
    scheduler.start()
    try:
        await wait_until(lambda: scheduler.health is not None, 5.0)
    finally:
        await scheduler.stop()


async def test_messages_due_while_disconnected_go_out_when_whatsapp_connects(db: Database) -> None:
    whatsapp = FakeWhatsApp(ConnectionState.SYNCING)
    scheduler = make_scheduler(db, whatsapp, make_settings(scheduled_poll_s=3600))
    await add_due(db)
    scheduler.start()
    try:
        await wait_until(lambda: scheduler.health is not None, 5.0)  # the first round ran, and could not send
        assert whatsapp.sent == []
        whatsapp.connect()
        await wait_until(lambda: whatsapp.sent == ["happy birthday!"], 5.0)
    finally:
        await scheduler.stop()


async def test_stop_does_not_wait_for_a_stuck_send_and_leaves_it_to_be_looked_up(db: Database) -> None:
    whatsapp = FakeWhatsApp()
    whatsapp.hang = True  # the connection dropped mid-send: send_text waits for it
    scheduler = make_scheduler(db, whatsapp)
    message = await add_due(db)
    scheduler.start()

    async def sending() -> bool:
        stored = await db.scheduled.get(message.id)
        return stored is not None and stored.status is ScheduledStatus.SENDING

    await wait_until(sending, 5.0)
    async with asyncio.timeout(3.0):
        await scheduler.stop(timeout_s=0.2)
    stored = await db.scheduled.get(message.id)
    assert stored is not None and stored.status is ScheduledStatus.SENDING  # the next start looks it up


async def test_a_failing_job_is_logged_not_raised_and_an_outage_is_reported(db: Database) -> None:
    storage = FakeStorage()
    scheduler = make_scheduler(db, FakeWhatsApp(), storage=storage)

    async def broken() -> None:
        raise RuntimeError("bug")

    async def outage() -> None:
        raise ConnectionFailure("gone")

    await scheduler._guarded("broken", broken)
    await scheduler._guarded("outage", outage)
    assert [str(error) for error in storage.failures] == ["gone"]


async def test_database_jobs_skip_while_the_database_is_down(db: Database) -> None:
    storage, whatsapp = FakeStorage(), FakeWhatsApp()
    storage.up = False
    scheduler = make_scheduler(db, whatsapp, storage=storage)
    await add_due(db)
    await scheduler.send_scheduled()
    assert whatsapp.sent == []
    storage.up = True
    await scheduler.send_scheduled()
    assert whatsapp.sent == ["happy birthday!"]


async def test_no_scheduled_message_goes_out_from_a_daemon_without_the_accounts_lease(db: Database) -> None:
    holds = [False]
    whatsapp = FakeWhatsApp()
    scheduler = make_scheduler(db, whatsapp, may_send=lambda: holds[0])
    await add_due(db)
    await scheduler.send_scheduled()
    assert whatsapp.sent == []  # another daemon may be driving the account now
    holds[0] = True
    await scheduler.send_scheduled()
    assert whatsapp.sent == ["happy birthday!"]


async def test_the_daily_summary_goes_to_the_operator(db: Database) -> None:
    notices = Notices()
    scheduler = make_scheduler(db, FakeWhatsApp(), alerts=notices)
    await scheduler.send_summary()
    [(key, text)] = notices.sent
    assert key.startswith("daily-summary:") and text.startswith("Daily summary (last 24 h):")


async def test_the_browser_restart_closes_chromium_only_while_connected(db: Database) -> None:
    closed: list[bool] = []

    class Context:
        async def close(self) -> None:
            closed.append(True)
            # As when the supervisor, seeing the page go, closed the browser first.
            raise PlaywrightError("BrowserContext.close: Target page, context or browser has been closed")

    class Page:
        context = Context()

    whatsapp = FakeWhatsApp(ConnectionState.SYNCING)
    whatsapp.page = Page()
    scheduler = make_scheduler(db, whatsapp)
    await scheduler.restart_browser()
    assert closed == []
    whatsapp.state = ConnectionState.CONNECTED
    await scheduler.restart_browser()
    assert closed == [True]


@pytest.mark.parametrize("value", ["25:00", "9am", "12:60"])
def test_times_of_day_are_checked(value: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        make_settings(daily_summary_at=value)
