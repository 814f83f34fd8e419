"""What the page reports, handled one event at a time in the order the page emitted it.

Status reports become connection states; login codes go to the presenter; an idle QR screen is refreshed (a
bounded number of times); a logout, a block or an outdated version alerts once; a conflict is taken over when allowed;
messages go to the inbox; receipts (acks), in a line of their own, to their handler. On every (re)connection, and
when asked (`catch_up`), the unread chats are read back, so messages that arrived while nobody listened are answered
too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger
from pydantic import ValidationError

from bot.errors import NeedsOperator, WhatsAppError
from bot.ops.alerts import Alerts
from bot.ops.logging import invalid_shape
from bot.settings import Settings
from bot.whatsapp.catchup import read_unread
from bot.whatsapp.connection import Connection
from bot.whatsapp.events import (
    AckHandler,
    LoginCode,
    LoginCodeHandler,
    MessageAck,
    MessageHandler,
    PageMessage,
    to_incoming,
)
from bot.whatsapp.page import PageBridge
from bot.whatsapp.states import ConnectionState, PageStatus, state_of

ALERT_KEY = "whatsapp"
REFRESH_QR_JS = "() => WPP.conn.refreshQR().then(() => true)"
TAKEOVER_JS = "() => { WPP.whatsapp.Socket.takeover(); return true; }"
# Taking the account back from another WhatsApp Web more often than this means someone keeps taking it: stop.
TAKEOVERS_PER_WINDOW = 3
TAKEOVER_WINDOW_S = 600.0

# What the operator should do, by state, in the alert.
HINTS = {
    ConnectionState.BLOCKED: "the bot stays down; check the account on the phone",
    ConnectionState.OUTDATED: "update the bot (a newer @wppconnect/wa-js, then npm ci) and restart it",
    ConnectionState.CONFLICT: "the bot waits; close the other WhatsApp Web, or set WA_TAKEOVER_ON_CONFLICT=true",
}


class PageEvents:
    def __init__(
        self,
        settings: Settings,
        connection: Connection,
        *,
        on_message: MessageHandler,
        on_ack: AckHandler | None = None,
        presenter: LoginCodeHandler | None,
        alerts: Alerts | None,
        current_bridge: Callable[[], PageBridge | None],
    ) -> None:
        self._settings = settings
        self._connection = connection
        self._on_message = on_message
        self._on_ack = on_ack
        self._presenter = presenter
        self._alerts = alerts
        self._current_bridge = current_bridge
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        # Receipts wait in their own line: a message never waits behind the database writes of receipts.
        self._acks: asyncio.Queue[Any] = asyncio.Queue()
        self._qr_rounds = 0
        self._qr_idle = False  # the current idle QR screen was handled (it is reported until refreshed)
        self._linked = False  # the page was authenticated since the last login screen
        self._takeovers: deque[float] = deque()

    def put(self, kind: str, payload: Any) -> None:
        """Called synchronously by the page binding, so the queues keep the page's order."""
        if kind == "ack":
            self._acks.put_nowait(payload)
        else:
            self._queue.put_nowait((kind, payload))

    def catch_up(self) -> None:
        """Read the unread chats back (when connected), in turn with the page's events."""
        self.put("catch_up", None)

    async def run(self) -> None:
        """Handle events until cancelled; raises NeedsOperator when login is given up."""
        receipts = asyncio.create_task(self._run_receipts(), name="whatsapp:receipts")
        try:
            while True:
                kind, payload = await self._queue.get()
                try:
                    await self._handle(kind, payload)
                except NeedsOperator:
                    raise
                except Exception:
                    logger.exception("handling the page event {!r} failed", kind)
        finally:
            receipts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receipts

    async def _run_receipts(self) -> None:
        """Receipts in the page's order: one that comes before its reply is recorded as sent is kept for it."""
        while True:
            payload = await self._acks.get()
            try:
                await self._on_ack_event(payload)
            except Exception:
                logger.exception("handling a receipt (ack) from the page failed")

    async def _handle(self, kind: str, payload: Any) -> None:
        match kind:
            case "status":
                await self._on_status(payload)
            case "loaded":
                self._connection.set(ConnectionState.LOADING, "the page loaded; putting wa-js and the bridge in")
            case "auth_code":
                await self._show_code(LoginCode(ref=payload["ref"], full_code=payload["fullCode"]) if payload else None)
            case "logout":
                await self._on_logout()
            case "message":
                await self._on_message_event(payload)
            case "catch_up":
                if self._connection.connected:
                    await self._catch_up()
            case _:
                logger.debug("unknown page event {!r}", kind)

    async def _on_status(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not payload.get("loaded"):
            self._connection.set(ConnectionState.LOADING, "waiting for WhatsApp Web's own code (wa-js not ready)")
            return
        page = PageStatus.model_validate(payload)
        state, reason = state_of(page)
        if page.authenticated:
            self._linked = True
        elif state is ConnectionState.NEEDS_LOGIN and self._linked:
            # Linked before, a login screen now, and no conn.logout heard (it came while nobody listened).
            self._announce_logout()
        change = self._connection.set(state, reason)
        # From the status rather than the conn.qrcode_idle event: the QR may have gone idle before we listened.
        if page.idle and not page.authenticated:
            if not self._qr_idle:
                self._qr_idle = True
                await self._on_qr_idle()
        else:
            self._qr_idle = False
        if change is None:
            return
        if change.previous is ConnectionState.NEEDS_LOGIN:
            await self._show_code(None)
        match state:
            case ConnectionState.CONNECTED:
                self._qr_rounds = 0
                if self._alerts is not None:
                    self._alerts.recovered(ALERT_KEY, "WhatsApp is connected again")
                await self._catch_up()
            case ConnectionState.CONFLICT if self._settings.wa_takeover_on_conflict:
                await self._take_over()
            case ConnectionState.BLOCKED | ConnectionState.OUTDATED | ConnectionState.CONFLICT:
                self._alert(f"{reason}: {HINTS[state]}")

    async def _catch_up(self) -> None:
        bridge = self._current_bridge()
        if bridge is None:
            return
        try:
            messages = await read_unread(bridge, timeout_s=self._settings.whatsapp_action_timeout_s)
        except WhatsAppError as error:
            logger.error("could not read the unread chats (messages that came while not listening): {}", error)
            return
        if messages:
            logger.info("{} unread message(s) arrived while the bot was not listening; answering them", len(messages))
        for message in messages:
            await self._on_message(message)

    async def _on_message_event(self, payload: Any) -> None:
        try:
            message = to_incoming(PageMessage.model_validate(payload))
        except ValidationError as error:
            logger.warning("ignored a message the page sent in an unexpected shape: {}", invalid_shape(error))
            return
        if message is not None:
            await self._on_message(message)

    async def _on_ack_event(self, payload: Any) -> None:
        try:
            ack = MessageAck.model_validate(payload)
        except ValidationError as error:
            logger.debug("ignored an ack in an unexpected shape: {}", invalid_shape(error))
            return
        if self._on_ack is not None and ack.ids:
            await self._on_ack(ack)

    async def _on_qr_idle(self) -> None:
        await self._show_code(None)  # the code on screen no longer links anything
        self._qr_rounds += 1
        limit = self._settings.login_max_qr_rounds
        if limit and self._qr_rounds >= limit:
            raise NeedsOperator(
                f"nobody linked the phone: the QR code expired {self._qr_rounds} times (LOGIN_MAX_QR_ROUNDS={limit}); "
                "run `run_bot.py login` to link it, then start the bot again"
            )
        bridge = self._current_bridge()
        if bridge is None:
            return
        logger.info(
            "the QR code expired; asking WhatsApp Web for a new one (round {} of {})",
            self._qr_rounds + 1,
            limit or "unlimited",
        )
        try:
            await bridge.call(
                REFRESH_QR_JS, timeout_s=self._settings.whatsapp_action_timeout_s, action="refresh the QR code"
            )
        except WhatsAppError as error:
            logger.warning("{}", error)

    async def _on_logout(self) -> None:
        self._announce_logout()
        await self._show_code(None)  # the old code died with the link; the login screen brings a new one

    def _announce_logout(self) -> None:
        if not self._linked:
            return  # already told for this login screen
        self._linked = False
        self._connection.set(ConnectionState.LOGGED_OUT, "the phone unlinked this device")
        self._alert(
            "the phone unlinked this device: link it again with the new QR code (in the log and "
            f"{self._settings.qr_png_path}) or `run_bot.py login --phone <number>`"
        )

    async def _take_over(self) -> None:
        now = time.monotonic()
        while self._takeovers and now - self._takeovers[0] > TAKEOVER_WINDOW_S:
            self._takeovers.popleft()
        if len(self._takeovers) >= TAKEOVERS_PER_WINDOW:
            self._alert(
                f"another WhatsApp Web took this account {len(self._takeovers) + 1} times in "
                f"{TAKEOVER_WINDOW_S / 60:.0f} min; the bot stops taking it back and waits"
            )
            return
        self._takeovers.append(now)
        bridge = self._current_bridge()
        if bridge is None:
            return
        logger.warning("WhatsApp Web is open elsewhere; taking the session back (WA_TAKEOVER_ON_CONFLICT)")
        try:
            await bridge.call(TAKEOVER_JS, timeout_s=self._settings.whatsapp_action_timeout_s, action="take over")
        except WhatsAppError as error:
            self._alert(f"taking the session back failed: {error}")

    def _alert(self, text: str) -> None:
        if self._alerts is not None:
            self._alerts.problem(ALERT_KEY, text)
        else:
            logger.error("alert: {}", text)

    async def _show_code(self, code: LoginCode | None) -> None:
        if self._presenter is not None:
            await self._presenter(code)
