"""The composition root: builds the parts from the settings, starts them in order, stops them in reverse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import timedelta
from types import TracebackType

from loguru import logger

from bot.ai import GeminiResponder
from bot.ai.embeddings import Embedder, EmbeddingUnavailable
from bot.context.situation import zone
from bot.knowledge.retrieval import Retriever
from bot.ops.alerts import AlertChannel, Alerts, WebhookAlertChannel, WhatsAppAlertChannel
from bot.ops.api import ApiDeps, api_routes
from bot.ops.commands import OperatorCommands, PausedContact, StatusReport
from bot.ops.lease import AccountLease
from bot.ops.logging import private
from bot.ops.metrics import LiveState, Metrics
from bot.ops.scheduler import HealthReport, Scheduler
from bot.ops.status_server import LoginCodeWatch, StatusServer
from bot.ops.systemd import SystemdHealth
from bot.ops.tasks import TaskSet, first_completed
from bot.pipeline import (
    ConversationWorker,
    Inbox,
    KeyedWorkQueue,
    Outbox,
    Reconciler,
    StaleReport,
    Traffic,
    TrafficRules,
)
from bot.pipeline.context import ContextRules, ContextSource
from bot.pipeline.conversation import Prices
from bot.pipeline.memory import Memory
from bot.pipeline.pacing import OutgoingPace, split_reply
from bot.pipeline.policy import AnswerRules
from bot.resilience import BreakerState, CircuitBreaker
from bot.settings import Settings
from bot.storage import Contact, Database, Direction, Message, utc_now
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.health import StorageHealth
from bot.whatsapp import ConnectionState, IncomingMessage, MessageAck, QrPresenter, StateChange, WhatsAppClient


class Application:
    """The daemon. `async with Application(settings) as app:` starts it; leaving the block stops it.

    Start-up: first the database and the account's lease (one daemon per account: nothing may touch the
    browser profile before), then the checks an operator must fix (browser, profile folder, wa-js: they cost
    nothing), the indexes and personas, the Gemini client, the pipeline, the unfinished work of a previous
    run, and the browser session last, so that nothing arrives before it can be stored. The browser session
    runs in the background from then on; `wait_failed` returns only if it had to be given up, or if the lease
    was lost.

    Shutdown (`stop`, on SIGTERM/SIGINT): no new reply is started, but what arrives is still stored; replies in
    flight get most of `shutdown_timeout_s` to finish, and the rest are cut short in a state the next start
    resumes (see bot/storage/messages.py); then alerts go out, and the browser, the Gemini client, the lease
    and the database are closed, in that order.
    """

    def __init__(self, settings: Settings, *, database: Database | None = None) -> None:
        """`database`: an open database to use instead of the one the settings name (tests share a store this
        way); the caller keeps it and closes it."""
        self.settings = settings
        self.db: Database | None = database
        self._owns_db = database is None
        self.responder: GeminiResponder | None = None
        self.whatsapp: WhatsAppClient | None = None
        self.alerts: Alerts | None = None
        self.storage: StorageHealth | None = None
        self._queue: KeyedWorkQueue[str] | None = None
        self._inbox: Inbox | None = None
        self._reconciler: Reconciler | None = None
        self._stale: StaleReport | None = None
        self.traffic: Traffic | None = None
        self._worker: ConversationWorker | None = None
        self._send_breaker: CircuitBreaker | None = None
        self.embedder: Embedder | None = None
        self.memory: Memory | None = None
        self.scheduler: Scheduler | None = None  # health checks, scheduled messages, retention, daily jobs
        self.metrics = Metrics()  # counted by the pipeline, served by the status server
        self.status_server: StatusServer | None = None
        # The login QR goes to stderr and the PNG, and to the status server's /login page.
        self._login_code = LoginCodeWatch(QrPresenter.to_stderr(settings.qr_png_path, as_text=settings.login_qr_text))
        self.lease: AccountLease | None = None  # this daemon's claim on the account (bot/ops/lease.py)
        self._tasks = TaskSet()
        self._systemd = SystemdHealth.from_environ()  # READY, STATUS, watchdog; no-op outside systemd
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
        self._systemd.start()

        self.alerts = Alerts(self._alert_channels(), account=settings.account, settle_s=settings.alert_settle_s)
        self.whatsapp = WhatsAppClient(
            settings,
            on_message=self._on_message,
            on_ack=self._on_ack,
            presenter=self._login_code,
            alerts=self.alerts,
        )
        self.whatsapp.subscribe(self._systemd.on_state)

        if self.db is None:
            self.db = await Database.from_settings(settings)
        # Before the browser profile is touched (prepare() even clears a stale profile lock): another daemon, on
        # this server or another, may be driving this account.
        self.lease = AccountLease.from_settings(
            self.db.leases, settings, on_lost=self._on_lease_lost, on_standby=self._systemd.standby
        )
        await self.lease.acquire()
        self.lease.start()
        await self.whatsapp.prepare()
        await self.db.ensure_indexes()
        personas = await self.db.personas.sync_directory(settings.personas_dir)
        logger.info(
            "personas loaded: {}{}",
            ", ".join(personas.loaded) or "none (using the built-in one)",
            f"; removed (file gone): {', '.join(personas.removed)}" if personas.removed else "",
        )
        self.responder = GeminiResponder.from_settings(settings)
        await self.responder.check()

        reconciler = self._build_pipeline(self.db, self.responder, self.whatsapp)
        if settings.status_enabled:
            await self._start_status_server(self.db, self.whatsapp)
        self.whatsapp.subscribe(self._on_state)
        await reconciler.resume()  # the work a previous run left unfinished
        self.scheduler = Scheduler(
            settings,
            db=self.db,
            whatsapp=self.whatsapp,
            ai_breaker=self.responder.breaker,
            send_breaker=self._send_breaker,
            storage=self.storage,
            alerts=self.alerts,
            may_send=lambda: self.lease is not None and self.lease.held,
        )
        self.scheduler.start()  # before the browser, so that it sees the first connect
        # A start-up slow enough to lose the lease (MongoDB stalled past LEASE_TTL_S) must not open the browser.
        await self.lease.check()
        self.whatsapp.start()

    async def _start_status_server(self, db: Database, whatsapp: WhatsAppClient) -> None:
        """/healthz, /readyz, /metrics, /login and /status on 127.0.0.1, and the HTTP API on the same server."""
        settings = self.settings
        self.status_server = StatusServer.from_settings(
            settings, self._live_state(), self.metrics, status=self._status_report, login=self._login_code
        )
        if settings.api_enabled:
            deps = ApiDeps.from_settings(
                settings,
                db=db,
                send=whatsapp.send_text,
                token=self.status_server.token,
                connected=lambda: whatsapp.state is ConnectionState.CONNECTED,
            )
            self.status_server.app.add_routes(api_routes(deps))
        await self.status_server.start()

    def _build_pipeline(self, db: Database, responder: GeminiResponder, whatsapp: WhatsAppClient) -> Reconciler:
        """Inbox -> traffic -> queue -> worker -> outbox, with the reconciler and the breakers' hooks."""
        settings = self.settings
        rules = AnswerRules.from_settings(settings)
        self.storage = StorageHealth(db, alerts=self.alerts)
        self._stale = StaleReport(self.alerts)
        self.traffic = Traffic(
            TrafficRules(
                quiet_s=settings.coalesce_quiet_s,
                max_wait_s=settings.coalesce_max_wait_s,
                soft_per_minute=settings.flood_soft_per_minute,
                flood_quiet_s=settings.flood_quiet_s,
                hard_per_minute=settings.flood_hard_per_minute,
            )
        )
        send_breaker = CircuitBreaker(
            "send",
            failures=settings.send_breaker_failures,
            window_s=settings.send_breaker_window_s,
            open_s=settings.send_breaker_open_s,
        )
        self._send_breaker = send_breaker
        outbox = Outbox(
            db,
            whatsapp,
            split=lambda text: split_reply(text, settings.reply_max_chars),
            pace=OutgoingPace(settings, whatsapp),
            breaker=send_breaker,
            metrics=self.metrics,
        )
        try:
            self.embedder = Embedder.from_settings(settings)
        except EmbeddingUnavailable as error:
            logger.warning("knowledge is searched by words only: {}", error)
        self.memory = Memory(db, responder, history_limit=settings.history_limit, batch=settings.summary_batch)
        context = ContextSource(
            db,
            rules=ContextRules(
                history_limit=settings.history_limit,
                thread_idle_gap=timedelta(seconds=settings.thread_idle_gap_s),
                earlier_threads=settings.earlier_threads,
                timezone=settings.operator_timezone,
                working_hours=settings.working_hours,
                media_max_bytes=settings.media_max_bytes,
            ),
            knowledge=Retriever.from_settings(db, self.embedder, settings),
            media=whatsapp,
        )
        worker = ConversationWorker(
            db,
            responder,
            outbox,
            whatsapp,
            context=context,
            default_persona=settings.persona,
            max_age=timedelta(seconds=settings.reply_max_age_s),
            rules=rules,
            max_message_chars=settings.prompt_message_max_chars,
            budget_tokens=settings.prompt_budget_tokens,
            memory=self.memory,
            prices=Prices(settings.ai_price_in_per_mtok, settings.ai_price_out_per_mtok),
            on_escalation=self._on_escalation,
            traffic=self.traffic,
            flood_pause=timedelta(seconds=settings.flood_pause_s),
            flood_notice=settings.flood_notice,
            health=self.storage,
            on_stale=self._stale.add,
            on_owed=self._resume_soon,
            ai_available=self._ai_available,
            metrics=self.metrics,
        )
        self._worker = worker
        responder.breaker.subscribe(self._on_ai_breaker)
        send_breaker.subscribe(lambda _, state: self._retry_when_due(send_breaker, state))
        self._queue = KeyedWorkQueue(
            worker,
            max_concurrent=settings.max_concurrent_replies,
            max_waiting=settings.max_waiting_contacts,
            ready=worker.ready,
            on_room=self._resume_soon,
        )
        self._inbox = Inbox(
            db,
            self._queue,
            self.storage,
            buffer_size=settings.storage_buffer_size,
            traffic=self.traffic,
            rules=rules,
            commands=OperatorCommands(db, self._status_report, tz=zone(settings.operator_timezone)),
            chat=whatsapp,
            default_persona=settings.persona,
            metrics=self.metrics,
        )
        self._reconciler = Reconciler(db, self._queue, self.storage)
        self.storage.on_recovered(self._after_storage_outage)
        return self._reconciler

    def _alert_channels(self) -> list[AlertChannel]:
        channels: list[AlertChannel] = []
        if self.settings.operator_number:
            channels.append(WhatsAppAlertChannel(self._send_alert, self.settings.operator_number))
        if self.settings.alert_webhook_url:
            channels.append(WebhookAlertChannel(self.settings.alert_webhook_url))
        return channels

    async def _status_report(self) -> StatusReport:
        """What the operator's /status shows, read from the parts as they are now."""
        assert self.whatsapp is not None and self.responder is not None and self.db is not None
        assert self._queue is not None and self._send_breaker is not None and self.storage is not None
        report = StatusReport(
            connection=self.whatsapp.state.value,
            waiting=self._queue.waiting,
            answering=self._queue.running,
            ai_breaker=self.responder.breaker.state.value,
            send_breaker=self._send_breaker.state.value,
        )
        now = utc_now()
        # "Today" as the operator lives it.
        local_now = now.astimezone(zone(self.settings.operator_timezone))
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            # Every contact is read: /status is rare, and contacts are counted in thousands at most.
            held = [c for c in await self.db.contacts.list() if c.paused_at(now) or not c.auto_reply]
            received = await self.db.messages.count_since(midnight, Direction.INBOUND)
            replies = await self.db.messages.count_since(midnight, Direction.OUTBOUND)
        except OUTAGE_ERRORS as error:
            self.storage.failed(error)
            return report
        paused = [PausedContact.of(contact, now) for contact in held]
        return report.model_copy(update={"paused": paused, "received_today": received, "replies_today": replies})

    def _live_state(self) -> LiveState:
        """What the status server and the metrics' gauges read from the running parts, when asked."""
        whatsapp, storage, responder = self.whatsapp, self.storage, self.responder
        assert whatsapp is not None and storage is not None and responder is not None
        assert self._queue is not None and self._send_breaker is not None
        return LiveState(
            connection=lambda: whatsapp.state,
            database_up=lambda: storage.up,
            queue=self._queue,
            breakers={"ai": responder.breaker, "send": self._send_breaker},
            profile_dir=self.settings.profile_dir,
        )

    async def _send_alert(self, chat_id: str, text: str) -> str:
        assert self.whatsapp is not None
        return await self.whatsapp.send_text(chat_id, text)

    @property
    def health(self) -> HealthReport | None:
        """The scheduler's last health check (None before the first)."""
        return self.scheduler.health if self.scheduler is not None else None

    @property
    def queue(self) -> KeyedWorkQueue[str]:
        """The contacts waiting for, or in, a turn."""
        if self._queue is None:
            raise RuntimeError("the application is not started")
        return self._queue

    @property
    def inbox(self) -> Inbox:
        """Where incoming messages are stored (or buffered while the database is down)."""
        if self._inbox is None:
            raise RuntimeError("the application is not started")
        return self._inbox

    async def wait_failed(self) -> None:
        """Returns only by raising why the daemon cannot go on (login given up, WhatsApp Web unreachable, the
        account's lease lost...)."""
        assert self.whatsapp is not None and self.lease is not None
        await first_completed(self.whatsapp.wait_failed(), self.lease.wait_lost())

    def _on_lease_lost(self) -> None:
        """Another daemon may be answering already: nothing more is sent from here (replies in flight are cut
        short, in a state the next holder resumes), and `wait_failed` raises, which stops the daemon."""
        if self._queue is not None:
            self._tasks.spawn(self._queue.cancel(), name="pipeline:cancel")

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every queued message has been handled; True if that happened in time."""
        return self._queue is None or await self._queue.join(timeout_s)

    async def _on_message(self, message: IncomingMessage) -> None:
        assert self._inbox is not None
        await self._inbox.receive(message)

    async def _on_ack(self, ack: MessageAck) -> None:
        assert self.db is not None and self.storage is not None
        try:
            await self.db.messages.record_ack(ack.ids, ack.ack)
        except OUTAGE_ERRORS as error:
            self.storage.failed(error)  # a receipt is not worth buffering: the reply itself is recorded

    def _on_state(self, change: StateChange) -> None:
        # The page half of the catch-up runs in the WhatsApp client; this is the database half.
        if change.current is ConnectionState.CONNECTED:
            self._resume_soon()

    def _on_escalation(self, contact: Contact, messages: list[Message], why: str) -> None:
        """A chat was handed to the operator: tell them who, what was said and why; each escalation is news."""
        assert self.alerts is not None
        said = " / ".join(message.text.strip()[:300] for message in messages if message.text.strip()) or "(media)"
        alert = (
            '{name} (+{phone}) needs you ({why}): "{said}". The bot has told them a person will answer and leaves '
            "the chat to you; send /resume {phone} to let it answer again."
        )
        facts = {"name": contact.display_name, "phone": contact.phone, "why": why}
        self.alerts.notice(
            f"escalation:{contact.id}:{messages[-1].id}",
            alert.format(said=said, **facts),
            log_text=alert.format(said=private(said), **facts),  # the operator reads the words; the log does not
        )

    def _ai_available(self) -> bool:
        """The model may be asked: its breaker is closed, or open but due for its probe call."""
        assert self.responder is not None
        breaker = self.responder.breaker
        return breaker.state is not BreakerState.OPEN or (breaker.retry_in_s() or 0.0) <= 0.0

    def _on_ai_breaker(self, _: BreakerState, state: BreakerState) -> None:
        assert self.responder is not None and self._worker is not None
        if state is BreakerState.CLOSED:
            self._worker.ai_back()  # queues the contacts it owes answers
        else:
            self._retry_when_due(self.responder.breaker, state)

    def _retry_when_due(self, breaker: CircuitBreaker, state: BreakerState) -> None:
        """An open breaker holds work back; nobody may write in the meantime, so the waiting contacts are
        queued again when it is due for its probe (and the probe comes from them)."""
        if state is BreakerState.OPEN:
            asyncio.get_running_loop().call_later(breaker.open_s, self._resume_soon)
        elif state is BreakerState.CLOSED:
            self._resume_soon()

    def _resume_soon(self) -> None:
        """Queue the contacts whose messages wait in the database (after a reconnect, when the backlog has room,
        when the model answers again after a fallback)."""
        if self._reconciler is not None and self._running:
            self._tasks.spawn(self._reconciler.resume(), name="pipeline:reconcile")

    async def _after_storage_outage(self) -> None:
        assert self._inbox is not None and self._reconciler is not None and self.whatsapp is not None
        # The work cut short first: it is older than what waited in memory, and each contact keeps its order.
        await self._reconciler.resume()
        await self._inbox.flush()
        self.whatsapp.catch_up()  # messages that did not fit in the buffer are still unread on WhatsApp

    async def stop(self) -> None:
        """Idempotent; each step runs even if an earlier one failed, within `shutdown_timeout_s` overall."""
        if not self._running:
            return
        self._running = False
        self._systemd.stopping()
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        logger.info("stopping: no new replies; replies in flight may finish, incoming messages are still stored")
        if self.scheduler is not None:
            await _bounded(self.scheduler.stop(timeout_s=1.5), deadline, "stopping the scheduler")
        if self.status_server is not None:
            await _bounded(self.status_server.stop(), deadline, "stopping the status server")
        if self._queue is not None:
            # Most of the budget goes to the replies in flight; the rest closes things.
            # None once the lease is lost: the replies in flight may be another daemon's to send by now.
            grace_s = 0.0 if self.lease is not None and self.lease.lost else deadline - time.monotonic() - 5.0
            if not await self._queue.stop(timeout_s=max(0.0, grace_s)):
                logger.warning(
                    "{} replies still running at the shutdown deadline were cut short; the next start resumes them",
                    self._queue.running,
                )
            await self._queue.cancel()
        await self._tasks.cancel()
        if self._inbox is not None:
            await self._inbox.close()
        if self.memory is not None:
            await self.memory.close(timeout_s=1.0)
        if self._stale is not None:
            self._stale.flush()
        if self.alerts is not None:
            await _bounded(self.alerts.close(timeout_s=2.0), deadline, "sending the last alerts")
        if self.whatsapp is not None:
            await _bounded(self.whatsapp.stop(), deadline, "closing the browser")
        if self.storage is not None:
            await self.storage.close()
        if self._inbox is not None and self._inbox.buffered:
            logger.warning(
                "{} message(s) that waited for the database are still unread on WhatsApp; the next start reads them",
                self._inbox.buffered,
            )
        if self.responder is not None:
            await _bounded(self.responder.close(), deadline, "closing the Gemini client")
        if self.embedder is not None:
            await _bounded(self.embedder.close(), deadline, "closing the embeddings client")
        if self.lease is not None:
            # Last before the database: the browser is closed, so a standby may open the account now.
            await _bounded(self.lease.release(), deadline, "releasing the account's lease")
        if self.db is not None and self._owns_db:
            await _bounded(self.db.close(), deadline, "closing the database")
        await self._systemd.close()
        logger.info("stopped")


async def _bounded(step: Awaitable[None], deadline: float, what: str) -> None:
    """Run one shutdown step; a step that fails or overruns is logged and the next one still runs."""
    try:
        async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
            await step
    except Exception:
        logger.exception("{} failed", what)
