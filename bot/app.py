"""The composition root: builds the parts from the settings, starts them in order, stops them in reverse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from types import TracebackType

from loguru import logger

from bot.ai import GeminiResponder
from bot.ops.alerts import AlertChannel, Alerts, WebhookAlertChannel, WhatsAppAlertChannel
from bot.pipeline import ConversationWorker, Inbox, KeyedWorkQueue, Outbox
from bot.settings import Settings
from bot.storage import Database, Message
from bot.whatsapp import IncomingMessage, QrPresenter, WhatsAppClient


class Application:
    """The daemon. `async with Application(settings) as app:` starts it; leaving the block stops it.

    Start-up: first the checks an operator must fix (browser, profile folder, wa-js: they cost nothing), then
    the database (and indexes, personas), the Gemini client, the pipeline, and the browser session last, so
    that nothing arrives before it can be stored. The browser session runs in the background from then on;
    `wait_failed` returns only if it had to be given up. Shutdown is the reverse: stop taking messages from the
    page, let the per-contact queues finish within the deadline, let alerts go out, close the browser, the
    Gemini client and the database last.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.responder: GeminiResponder | None = None
        self.whatsapp: WhatsAppClient | None = None
        self.alerts: Alerts | None = None
        self._queue: KeyedWorkQueue[Message] | None = None
        self._inbox: Inbox | None = None
        self._running = False

    async def __aenter__(self) -> Application:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._running:
            raise RuntimeError("Application already started")
        self._running = True
        settings = self.settings

        self.alerts = Alerts(self._alert_channels(), account=settings.account, settle_s=settings.alert_settle_s)
        self.whatsapp = WhatsAppClient(
            settings,
            on_message=self._on_message,
            presenter=QrPresenter.to_stderr(settings.qr_png_path, as_text=settings.login_qr_text),
            alerts=self.alerts,
        )
        await self.whatsapp.prepare()

        self.db = await Database.from_settings(settings)
        await self.db.ensure_indexes()
        personas = await self.db.personas.load_directory(settings.personas_dir)
        logger.info("personas loaded: {}", ", ".join(personas) or "none (using the built-in one)")
        self.responder = GeminiResponder.from_settings(settings)
        await self.responder.check()

        worker = ConversationWorker(
            self.db,
            self.responder,
            Outbox(self.db, self.whatsapp),
            self.whatsapp,
            default_persona=settings.persona,
            history_limit=settings.history_limit,
        )
        self._queue = KeyedWorkQueue(worker, max_concurrent=settings.max_concurrent_replies)
        self._inbox = Inbox(self.db, self._queue)
        self.whatsapp.start()

    def _alert_channels(self) -> list[AlertChannel]:
        channels: list[AlertChannel] = []
        if self.settings.operator_number:
            channels.append(WhatsAppAlertChannel(self._send_alert, self.settings.operator_number))
        if self.settings.alert_webhook_url:
            channels.append(WebhookAlertChannel(self.settings.alert_webhook_url))
        return channels

    async def _send_alert(self, chat_id: str, text: str) -> str:
        assert self.whatsapp is not None
        return await self.whatsapp.send_text(chat_id, text)

    async def wait_failed(self) -> None:
        """Returns only by raising why the daemon cannot go on (login given up, WhatsApp Web unreachable...)."""
        assert self.whatsapp is not None
        await self.whatsapp.wait_failed()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every received message has been handled; True if that happened in time."""
        return self._queue is None or await self._queue.join(timeout_s)

    async def _on_message(self, message: IncomingMessage) -> None:
        assert self._inbox is not None
        await self._inbox.receive(message)

    async def stop(self) -> None:
        """Idempotent; each step runs even if an earlier one failed, within `shutdown_timeout_s` overall."""
        if not self._running:
            return
        self._running = False
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        logger.info("stopping")
        if self.whatsapp is not None:
            self.whatsapp.stop_receiving()
        if self._queue is not None:
            # Most of the budget goes to answering what is already queued; the rest closes things.
            if not await self._queue.drain(timeout_s=max(0.0, deadline - time.monotonic() - 5.0)):
                logger.warning("replies still running at the shutdown deadline were cancelled")
            await self._queue.close()
        if self.alerts is not None:
            await _bounded(self.alerts.close(timeout_s=2.0), deadline, "sending the last alerts")
        if self.whatsapp is not None:
            await _bounded(self.whatsapp.stop(), deadline, "closing the browser")
        if self.responder is not None:
            await _bounded(self.responder.close(), deadline, "closing the Gemini client")
        if self.db is not None:
            await _bounded(self.db.close(), deadline, "closing the database")
        logger.info("stopped")


async def _bounded(step: Awaitable[None], deadline: float, what: str) -> None:
    """Run one shutdown step; a step that fails or overruns is logged and the next one still runs."""
    try:
        async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
            await step
    except Exception:
        logger.exception("{} failed", what)
