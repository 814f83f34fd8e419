"""The one owner of the connection's life: launches the browser session, watches it, and recovers from faults.

A session is one Chromium on the account's profile with WhatsApp Web open and our bridge in it. It ends with a
`SessionFault` when the browser dies, the page crashes or stops answering the watchdog probe, or WhatsApp Web
never becomes ready (after one reload). The supervisor then relaunches on the same profile, with exponential
backoff and jitter (tenacity), warns on every attempt and alerts after a few. A session that had reached a settled
state (connected, waiting for login, ...) starts a fresh retry budget and is relaunched at once.

What happens inside a healthy session (states, login codes, messages) is the dispatcher's job (dispatcher.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Playwright, async_playwright
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from bot.errors import StartupError, WhatsAppUnavailable
from bot.ops.alerts import Alerts
from bot.ops.tasks import first_completed
from bot.settings import Settings
from bot.whatsapp.browser import BrowserSession, LaunchFailed, desktop_user_agent, find_chromium
from bot.whatsapp.connection import Connection
from bot.whatsapp.dispatcher import ALERT_KEY, PageEvents
from bot.whatsapp.injection import load_wa_js
from bot.whatsapp.page import PageBridge, PageGone, PageRefused, PageTimeout, first_line
from bot.whatsapp.profile import prepare_profile_dir, release_stale_lock
from bot.whatsapp.states import SETTLED_STATES, ConnectionState, StateChange


class SessionFault(Exception):
    """The browser session cannot go on; `settled` says whether it had been working before."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.settled = False


class ConnectionSupervisor:
    def __init__(self, settings: Settings, connection: Connection, events: PageEvents, alerts: Alerts | None) -> None:
        self._settings = settings
        self.connection = connection
        self._events = events
        self._alerts = alerts
        self._playwright: Playwright | None = None
        self._executable = Path()
        self.bridge: PageBridge | None = None
        self._ever_settled = False
        self._session_settled = False
        self._down_since: float | None = time.monotonic()  # not connected since; None while connected
        self._down_alerted = False
        self._stopping = False
        connection.subscribe(self._on_change)

    async def prepare(self) -> None:
        """Find what an operator must fix before anything is launched: one line each (StartupError), no retries."""
        settings = self._settings
        if not settings.wa_js_path.is_file():
            raise StartupError(f"wa-js is missing at {settings.wa_js_path} (WA_JS_PATH): run `npm ci` in the project")
        load_wa_js(settings.wa_js_path)
        prepare_profile_dir(settings.profile_dir)
        release_stale_lock(settings.profile_dir)
        self._playwright = await async_playwright().start()
        self._executable = find_chromium(self._playwright, settings.browser_executable)
        await desktop_user_agent(self._executable)  # also proves that the browser runs here

    async def run(self) -> None:
        """Keep a browser session alive until cancelled; raises when it must give up (start-up only)."""
        if self._playwright is None:
            raise RuntimeError("call prepare() first")
        try:
            while True:
                try:
                    await self._run_with_retries(self._executable)
                except SessionFault as fault:
                    if not fault.settled:
                        raise
                    logger.warning("WhatsApp: {}; relaunching the browser", fault)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop Playwright's driver; safe to call twice (run() calls it, and so does a start that failed)."""
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            await playwright.stop()

    async def _run_with_retries(self, executable: Path) -> None:
        settings = self._settings
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: isinstance(error, SessionFault) and not error.settled),
            wait=wait_exponential_jitter(
                initial=settings.whatsapp_retry_initial_s, max=settings.whatsapp_retry_max_s, jitter=1.0
            ),
            stop=self._give_up,
            before_sleep=self._before_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._session_lifetime(executable)
        except SessionFault as fault:
            if fault.settled:
                raise
            attempts = retrying.statistics.get("attempt_number", 0)
            limit = f"WHATSAPP_START_ATTEMPTS={settings.whatsapp_start_attempts}"
            raise WhatsAppUnavailable(f"{fault} (gave up after {attempts} attempts; {limit})") from fault

    def _give_up(self, retry_state: RetryCallState) -> bool:
        """Only before WhatsApp Web was ever reached: later the daemon keeps trying and alerts instead."""
        limit = self._settings.whatsapp_start_attempts
        return not self._ever_settled and limit > 0 and retry_state.attempt_number >= limit

    def _before_retry(self, retry_state: RetryCallState) -> None:
        fault = retry_state.outcome.exception() if retry_state.outcome else None
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        attempt = retry_state.attempt_number
        logger.warning("WhatsApp: {}; trying again in {:.1f} s (attempt {})", fault, delay, attempt)
        if self._alerts is not None and attempt >= self._settings.whatsapp_alert_after_attempts:
            self._alerts.problem(ALERT_KEY, f"WhatsApp Web keeps failing ({attempt} attempts): {fault}")

    async def _session_lifetime(self, executable: Path) -> None:
        settings = self._settings
        self._session_settled = False
        self.connection.set(ConnectionState.STARTING, "launching Chromium on the account's profile")
        try:
            session = await BrowserSession.launch(
                self._playwright,  # type: ignore[arg-type]
                settings.profile_dir,
                executable=executable,
                headless=settings.headless,
            )
        except LaunchFailed as error:
            raise SessionFault(str(error)) from error
        bridge = PageBridge(
            session.page, url=settings.whatsapp_url, wa_js_path=settings.wa_js_path, on_event=self._events.put
        )
        self.bridge = bridge
        try:
            await bridge.attach()
            self.connection.set(ConnectionState.LOADING, f"opening WhatsApp Web at {settings.whatsapp_url}")
            await session.open(settings.whatsapp_url, timeout_s=settings.whatsapp_ready_timeout_s)
            await self._watch(session, bridge)
        except (SessionFault, LaunchFailed, PlaywrightError) as error:
            reason = first_line(error) if isinstance(error, PlaywrightError) else str(error)
            fault = error if isinstance(error, SessionFault) else SessionFault(reason)
            fault.settled = self._session_settled
            if not self._stopping:
                self.connection.set(ConnectionState.BROWSER_LOST, str(fault))
            raise fault from error
        finally:
            self.bridge = None
            await bridge.close()
            await session.close()

    async def _watch(self, session: BrowserSession, bridge: PageBridge) -> None:
        """Until the session faults: wake on state changes and timers; probe; enforce the ready timeout."""
        settings = self._settings
        next_probe = time.monotonic() + settings.whatsapp_probe_interval_s
        reloaded = False
        while True:
            if session.lost.is_set():
                raise SessionFault(session.lost_reason)
            now = time.monotonic()
            state = self.connection.state
            if state in SETTLED_STATES:
                reloaded = False
                ready_deadline = float("inf")
            else:
                ready_deadline = self.connection.since + settings.whatsapp_ready_timeout_s
            if now >= next_probe:
                await self._probe(bridge)
                next_probe = time.monotonic() + settings.whatsapp_probe_interval_s
                continue
            if now >= ready_deadline:
                reloaded = await self._not_ready(bridge, reloaded)
                continue
            self._alert_if_down_too_long(now)
            wake_at = min(next_probe, ready_deadline)
            # Until the session is lost, the state changes, or the next timer is due.
            await first_completed(session.lost.wait(), self.connection.wait_change(wake_at - now))

    async def _not_ready(self, bridge: PageBridge, reloaded: bool) -> bool:
        """Ready timeout: reload the page once; the next time, give the session up (relaunch)."""
        timeout_s = self._settings.whatsapp_ready_timeout_s
        where = f"{self.connection.state.value}: {self.connection.reason}"
        if reloaded:
            raise SessionFault(
                f"WhatsApp Web did not become ready within WHATSAPP_READY_TIMEOUT_S={timeout_s:g} s, "
                f"even after a reload ({where})"
            )
        logger.warning("WhatsApp Web is not ready after {:g} s ({}); reloading the page", timeout_s, where)
        self.connection.set(ConnectionState.LOADING, "reloading the page: WhatsApp Web was not ready in time")
        try:
            await bridge.page.reload(wait_until="domcontentloaded", timeout=timeout_s * 1000)
        except PlaywrightError as error:
            raise SessionFault(f"reloading WhatsApp Web failed: {first_line(error)}") from error
        return True

    async def _probe(self, bridge: PageBridge) -> None:
        """The watchdog: a cheap call into the page. No answer in time, or no page, ends the session."""
        timeout_s = self._settings.whatsapp_probe_timeout_s
        try:
            report = await bridge.status(timeout_s)
        except PageTimeout as error:
            raise SessionFault(
                f"the page stopped answering (watchdog probe: no answer within {timeout_s:g} s)"
            ) from error
        except (PageGone, PageRefused) as error:
            raise SessionFault(f"the watchdog probe failed: {error}") from error
        if report is None:
            # A new document without our bridge (its load event was missed): the page cannot be trusted as is.
            self._events.put("loaded", bridge.page.url)
            await bridge.install()
            return
        self._events.put("status", report)

    def _alert_if_down_too_long(self, now: float) -> None:
        """Once per outage: not connected for WHATSAPP_ALERT_AFTER_S, however often the state changed meanwhile."""
        state = self.connection.state
        if self._alerts is None or self._down_since is None or self._down_alerted:
            return
        if state is ConnectionState.NEEDS_LOGIN:  # the QR rounds bound that wait; the operator is told there
            return
        down_s = now - self._down_since
        if down_s >= self._settings.whatsapp_alert_after_s:
            self._down_alerted = True
            self._alerts.problem(
                ALERT_KEY,
                f"WhatsApp has not been connected for {down_s / 60:.0f} min ({state.value}: {self.connection.reason})",
            )

    def _on_change(self, change: StateChange) -> None:
        if change.current in SETTLED_STATES:
            self._ever_settled = self._session_settled = True
        if change.current is ConnectionState.CONNECTED:
            self._down_since, self._down_alerted = None, False
        elif self._down_since is None:
            self._down_since = time.monotonic()

    def stopping(self) -> None:
        """Shutdown has begun: the end of the session is not a fault to report."""
        self._stopping = True
