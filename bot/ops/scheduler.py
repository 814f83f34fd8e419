"""The daemon's timed jobs, on one apscheduler AsyncIOScheduler in the daemon's event loop.

- health check every HEALTH_CHECK_S: database ping, AI and send breakers, WhatsApp state; the last result is
  `Scheduler.health` (the status server reads it through the Application). The watchdog probe of the page is the
  WhatsApp supervisor's own (every WHATSAPP_PROBE_INTERVAL_S); its verdict shows here as the connection state.
- scheduled messages every SCHEDULED_POLL_S, and at once whenever WhatsApp connects (bot/ops/scheduled_sender.py).
- retention daily at RETENTION_AT (bot/ops/retention.py); daily summary to the operator at DAILY_SUMMARY_AT
  (bot/ops/summary.py); an optional daily browser restart at BROWSER_RESTART_AT. Times are the operator's.
- no thread archive sweep: a thread ends by itself after THREAD_IDLE_GAP_S of silence, and its summary is made
  when the next one starts (bot/pipeline/memory.py); there is nothing left for a sweep to do.

Every job logs one line when it did something and never raises into apscheduler: errors are logged, and a
database outage is reported to StorageHealth once and otherwise skipped quietly (the job runs again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, Field

from bot.context.situation import zone
from bot.ops.alerts import Alerts
from bot.ops.retention import apply_retention
from bot.ops.scheduled_sender import ScheduledSender
from bot.ops.summary import daily_summary
from bot.resilience import BreakerState, CircuitBreaker
from bot.settings import Settings
from bot.storage import Database, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth
from bot.whatsapp import ConnectionState, StateChange, WhatsAppClient

# apscheduler's own INFO and WARNING lines ("Added job", "skipped: maximum number of running instances") are noise
# here: every job logs what it did itself, and a poll skipped while the last one still sends is expected.
_APS_LOGGER = logging.getLogger("bot.scheduler.apscheduler")
_APS_LOGGER.setLevel(logging.ERROR)

HEALTH_JOB = "health"
SCHEDULED_JOB = "scheduled-messages"
RETENTION_JOB = "retention"
SUMMARY_JOB = "daily-summary"
RESTART_JOB = "browser-restart"
SUMMARY_ALERT_KEY = "daily-summary"
# On the way to connected by themselves (the supervisor bounds how long): not a problem to report.
ON_THE_WAY = (ConnectionState.STARTING, ConnectionState.LOADING, ConnectionState.SYNCING)
# A daily job the loop was too busy to start on the minute still runs within this.
DAILY_GRACE_S = 600


class HealthReport(BaseModel):
    """The last health check: what was found, and what is wrong (empty `problems`: healthy)."""

    checked_at: datetime
    database: bool = Field(description="MongoDB answered a ping")
    whatsapp: str = Field(description="the connection state")
    ai_breaker: str
    send_breaker: str | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Scheduler:
    """Owned by the Application: `start` after the pipeline, `stop` early in shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        whatsapp: WhatsAppClient,
        ai_breaker: CircuitBreaker,
        send_breaker: CircuitBreaker | None = None,
        storage: StorageHealth | None = None,
        alerts: Alerts | None = None,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        """`may_send`: whether this daemon may act for the account now (it holds the account's lease)."""
        self._settings = settings
        self._may_send = may_send
        self._db = db
        self._whatsapp = whatsapp
        self._ai_breaker = ai_breaker
        self._send_breaker = send_breaker
        self._storage = storage
        self._alerts = alerts
        self._tz = zone(settings.operator_timezone)
        self.sender = ScheduledSender(db, whatsapp, max_age=timedelta(seconds=settings.reply_max_age_s), alerts=alerts)
        self.health: HealthReport | None = None
        self._aps = AsyncIOScheduler(
            timezone=self._tz,
            logger=_APS_LOGGER,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": DAILY_GRACE_S},
        )
        self._running: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        settings = self._settings
        now = datetime.now(self._tz)
        self._add(HEALTH_JOB, self.check_health, IntervalTrigger(seconds=settings.health_check_s), first=now)
        self._add(SCHEDULED_JOB, self.send_scheduled, IntervalTrigger(seconds=settings.scheduled_poll_s), first=now)
        if settings.retention_at and settings.retention_days > 0:
            self._add(RETENTION_JOB, self.retention, self._daily(settings.retention_at))
        if settings.daily_summary_at:
            self._add(SUMMARY_JOB, self.send_summary, self._daily(settings.daily_summary_at))
        if settings.browser_restart_at:
            self._add(RESTART_JOB, self.restart_browser, self._daily(settings.browser_restart_at))
        self._aps.start()
        self._whatsapp.subscribe(self._on_state)

    async def stop(self, timeout_s: float = 1.5) -> None:
        """No new job starts; a running one gets `timeout_s`, then is cancelled (a scheduled message cut short
        mid-send stays `sending`, and the next start looks it up before sending it again)."""
        if not self._aps.running:
            return
        self._aps.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
        self._aps.shutdown(wait=False)
        for task in set(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    @property
    def jobs(self) -> dict[str, datetime | None]:
        """Each job's id and its next run (operator's time zone)."""
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}

    def _daily(self, hhmm: str) -> CronTrigger:
        hour, minute = hhmm.split(":")
        return CronTrigger(hour=int(hour), minute=int(minute), timezone=self._tz)

    def _add(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        trigger: IntervalTrigger | CronTrigger,
        *,
        first: datetime | None = None,
    ) -> None:
        async def job() -> None:
            await self._guarded(name, work)

        kwargs = {"next_run_time": first} if first is not None else {}
        self._aps.add_job(job, trigger, id=name, name=name, **kwargs)

    async def _guarded(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await work()
        except OUTAGE_ERRORS as error:
            if self._storage is not None:
                self._storage.failed(error)
            logger.debug("scheduled job {} skipped: the database is unreachable", name)
        except Exception:
            logger.exception("scheduled job {} failed", name)
        finally:
            self._running.discard(task)

    def _on_state(self, change: StateChange) -> None:
        if not self._aps.running:
            return
        now = datetime.now(self._tz)
        self._aps.modify_job(HEALTH_JOB, next_run_time=now)  # the report never lags the connection for long
        if change.current is ConnectionState.CONNECTED:
            # Messages that fell due while the daemon was down or disconnected go out as soon as it can send.
            self._aps.modify_job(SCHEDULED_JOB, next_run_time=now)

    def _database_down(self) -> bool:
        return self._storage is not None and not self._storage.up

    async def check_health(self) -> HealthReport:
        problems = []
        database = True
        try:
            async with asyncio.timeout(self._settings.mongodb_timeout_s):
                await self._db.ping()
        except (*OUTAGE_ERRORS, TimeoutError) as error:
            database = False
            problems.append("MongoDB does not answer")
            if self._storage is not None and not isinstance(error, TimeoutError):
                self._storage.failed(error)
        state = self._whatsapp.state
        if state not in (ConnectionState.CONNECTED, *ON_THE_WAY):
            problems.append(f"WhatsApp is {state.value}")
        if self._ai_breaker.state is BreakerState.OPEN:
            problems.append("the model is failing (AI breaker open)")
        send = self._send_breaker.state.value if self._send_breaker is not None else None
        if send == BreakerState.OPEN.value:
            problems.append("WhatsApp refuses sends (send breaker open)")
        report = HealthReport(
            checked_at=utc_now(),
            database=database,
            whatsapp=state.value,
            ai_breaker=self._ai_breaker.state.value,
            send_breaker=send,
            problems=problems,
        )
        previous = self.health
        self.health = report
        if previous is None or previous.problems != report.problems:
            if report.ok:
                logger.info("health check: all well")
            else:
                logger.warning("health check: {}", "; ".join(report.problems))
        return report

    async def send_scheduled(self) -> None:
        # send_text waits for the connection: only start when it can go out now, not hold the job meanwhile.
        if self._database_down() or self._whatsapp.state is not ConnectionState.CONNECTED or not self._may_send():
            return
        await self.sender.send_due()

    async def retention(self) -> None:
        if self._database_down():
            return
        settings = self._settings
        result = await apply_retention(self._db, days=settings.retention_days, mode=settings.retention_mode)
        if result.changed:
            logger.info(result.describe())

    async def send_summary(self) -> None:
        if self._database_down():
            return
        text = await daily_summary(self._db)
        if self._alerts is not None:
            self._alerts.notice(f"{SUMMARY_ALERT_KEY}:{utc_now():%Y-%m-%d}", text)  # logs it too
        else:
            logger.info(text)

    async def restart_browser(self) -> None:
        """Close Chromium; the WhatsApp supervisor relaunches it on the same profile at once, as after any loss
        of a session that had been working (no new QR). Only while connected: otherwise the supervisor is
        already busy with the browser. A send in flight is looked up before it is tried again."""
        page = self._whatsapp.page
        if self._whatsapp.state is not ConnectionState.CONNECTED or page is None:
            logger.info("daily browser restart skipped: WhatsApp is {}", self._whatsapp.state.value)
            return
        logger.info("daily browser restart: closing Chromium (long-lived WhatsApp Web tabs grow in memory)")
        # The supervisor, seeing the page go, may close the browser first: closed either way.
        with contextlib.suppress(PlaywrightError):
            await page.context.close()
