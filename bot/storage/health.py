"""Whether MongoDB answers, and what happens when it comes back.

Whoever meets an outage error reports it here (`failed`); the first report of an outage is logged (and alerted)
once, and a background probe pings with backoff until the server answers. Then the recovery is logged once and
the `on_recovered` callbacks run: the inbox writes what it buffered, the reconciler resumes the work that was
cut short. While the database is down, nothing is sent that could not be recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from bot.ops.alerts import Alerts
from bot.ops.tasks import TaskSet
from bot.storage.database import OUTAGE_ERRORS, Database

ALERT_KEY = "database"

RecoveryHandler = Callable[[], Awaitable[object]]


class StorageHealth:
    def __init__(
        self,
        db: Database,
        *,
        alerts: Alerts | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 15.0,
    ) -> None:
        self._db = db
        self._alerts = alerts
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._on_recovered: list[RecoveryHandler] = []
        self._probe = TaskSet()
        self._up = asyncio.Event()
        self._up.set()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def on_recovered(self, handler: RecoveryHandler) -> None:
        self._on_recovered.append(handler)

    async def wait_up(self) -> None:
        await self._up.wait()

    def failed(self, error: BaseException) -> None:
        """An outage error was met; the first one of an outage starts the probe that waits for the server."""
        if not self.up:
            return
        self._up.clear()
        text = f"MongoDB is unreachable ({_first_line(error)}); incoming messages wait in memory until it returns"
        if self._alerts is not None:
            self._alerts.problem(ALERT_KEY, text)
        else:
            logger.error(text)
        self._probe.spawn(self._wait_for_server(), name="storage:probe")

    async def _wait_for_server(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(OUTAGE_ERRORS),
            wait=wait_exponential_jitter(initial=self._retry_initial_s, max=self._retry_max_s),
        ):
            with attempt:
                await self._db.ping()
        self._up.set()
        if self._alerts is not None:
            self._alerts.recovered(ALERT_KEY, "MongoDB answers again")
        else:
            logger.success("MongoDB answers again")
        for handler in self._on_recovered:
            try:
                await handler()
            except Exception:
                logger.exception("catching up after the database outage failed")

    async def close(self) -> None:
        await self._probe.cancel()


def _first_line(error: BaseException) -> str:
    # pymongo's server selection errors carry a topology dump after the first line.
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
