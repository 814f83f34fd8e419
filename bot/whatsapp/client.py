"""WhatsAppClient: what the rest of the bot sees of WhatsApp. The connection's state, and the actions.

Behind it, the supervisor keeps a browser session alive and the dispatcher turns page events into states and
messages. Sending is held while the connection cannot send (syncing, offline, reloading, relaunching) and goes
out once it can; a send whose outcome is unknown (the page died mid-call) is looked up by the id the bot chose
before it is tried again, so a reply is never sent twice. Read receipts and "typing..." only go out while
connected: they are courtesy, never worth holding a reply for.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Coroutine
from typing import Any

from loguru import logger
from playwright.async_api import Page

from bot.errors import NotReady, StartupError
from bot.ops.alerts import Alerts
from bot.ops.tasks import TaskSet
from bot.settings import Settings
from bot.whatsapp.connection import Connection
from bot.whatsapp.dispatcher import PageEvents
from bot.whatsapp.events import AckHandler, DownloadedMedia, LoginCodeHandler, MessageHandler, new_message_id
from bot.whatsapp.page import PageBridge, PageGone, PageRefused, PageTimeout
from bot.whatsapp.states import ConnectionState, StateHandler
from bot.whatsapp.supervisor import ConnectionSupervisor

SEND_TEXT_JS = """({chatId, text, messageId}) => window.__waBot
  ? window.__waBot.sendText(chatId, text, messageId)
  : {refused: 'the bridge is not in the page (it is loading)', steady: false}"""
# Resolves the message if the page has it; wa-js rejects with msg_not_found otherwise.
FIND_MESSAGE_JS = """async (id) => {
  try { const msg = await WPP.chat.getMessageById(id); return Boolean(msg); }
  catch (error) {
    if (['msg_not_found', 'chat_not_found'].includes(error && error.code)) return false;
    throw error;
  }
}"""
MARK_READ_JS = "({chatId, answered}) => window.__waBot.markRead(chatId, answered)"
# No duration: with one, wa-js's markIsComposing only resolves after it has run out. Sending ends "typing".
TYPING_JS = "async (chatId) => { await WPP.chat.markIsComposing(chatId); }"
PAIRING_CODE_JS = "(phone) => WPP.conn.genLinkDeviceCodeForPhoneNumber(phone)"
# Refused as "not loaded" between a page load and the bridge's install: worth asking again, like a held send.
NOT_LOADED = "not_loaded"
DOWNLOAD_MEDIA_JS = """({id, maxBytes}) => window.__waBot
  ? window.__waBot.downloadMedia(id, maxBytes)
  : {refused: 'not_loaded', reason: 'the bridge is not in the page (it is loading)'}"""


def own_message_key(chat_id: str, message_id: str) -> str:
    """WhatsApp's serialized id of a message this account sent (fromMe_chat_id)."""
    return f"true_{chat_id}_{message_id}"


class WhatsAppClient:
    def __init__(
        self,
        settings: Settings,
        *,
        on_message: MessageHandler,
        on_ack: AckHandler | None = None,
        presenter: LoginCodeHandler | None = None,
        alerts: Alerts | None = None,
    ) -> None:
        self._settings = settings
        self.connection = Connection()
        self._events = PageEvents(
            settings,
            self.connection,
            on_message=on_message,
            on_ack=on_ack,
            presenter=presenter,
            alerts=alerts,
            current_bridge=lambda: self._supervisor.bridge,
        )
        self._supervisor = ConnectionSupervisor(settings, self.connection, self._events, alerts)
        self._tasks = TaskSet()
        self._failed: asyncio.Future[None] | None = None

    @property
    def state(self) -> ConnectionState:
        return self.connection.state

    @property
    def page(self) -> Page | None:
        """The live WhatsApp Web page, for diagnostics and fault-injection tests; None between browser sessions."""
        bridge = self._supervisor.bridge
        return bridge.page if bridge is not None else None

    def subscribe(self, handler: StateHandler) -> None:
        self.connection.subscribe(handler)

    async def prepare(self) -> None:
        """Check what an operator must fix (raises StartupError with one line) before anything else starts."""
        await self._supervisor.prepare()

    def start(self) -> None:
        """Launch the browser and keep it connected, in the background; `wait_failed` says if that is given up."""
        if self._failed is not None:
            raise RuntimeError("WhatsAppClient already started")
        self._failed = asyncio.get_running_loop().create_future()
        for coro, name in ((self._supervisor.run(), "whatsapp:supervisor"), (self._events.run(), "whatsapp:events")):
            self._tasks.spawn(self._report_failure(coro), name=name)

    async def _report_failure(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs one of the background loops; if it ends, the connection is given up and `wait_failed` says why."""
        try:
            await work
        except StartupError as error:
            # Expected ends (login abandoned, unreachable at start-up): one line for the operator, no traceback.
            self._fail(error)
            return
        except Exception as error:
            self._fail(error)
            raise
        self._fail(RuntimeError("a WhatsApp background loop ended by itself"))

    def _fail(self, error: BaseException) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_exception(error)

    async def wait_failed(self) -> None:
        """Returns (raising the reason) only if the connection had to be given up: login abandoned, no browser..."""
        if self._failed is None:
            raise RuntimeError("WhatsAppClient not started")
        # Shielded: a caller that stops waiting must not cancel the outcome for everyone else.
        await asyncio.shield(self._failed)

    async def wait_for_state(self, *states: ConnectionState, timeout_s: float | None) -> ConnectionState:
        return await self.connection.wait_for(*states, timeout_s=timeout_s)

    async def wait_until_connected(self, timeout_s: float | None) -> None:
        await self.connection.wait_for(ConnectionState.CONNECTED, timeout_s=timeout_s)

    def catch_up(self) -> None:
        """Read back the unread chats now (if connected), as after a reconnection: messages that could not be
        taken when they came (the database was down) are handed to `on_message` again."""
        self._events.catch_up()

    async def stop(self) -> None:
        """Close the page and the browser. Safe to call twice, or after a failed start."""
        self._supervisor.stopping()
        await self._tasks.cancel()
        await self._supervisor.close()
        if self._failed is not None:
            if self._failed.done() and not self._failed.cancelled():
                self._failed.exception()  # reported through wait_failed (or not wanted): not "never retrieved"
            self._failed.cancel()
        self.connection.set(ConnectionState.STOPPED, "stopped")

    async def send_text(
        self, chat_id: str, text: str, *, message_id: str | None = None, maybe_sent: bool = False
    ) -> str:
        """Send a text, waiting for the connection if needed; returns WhatsApp's serialized id for it.

        `message_id` is the id the bot chose for it; with `maybe_sent` (an earlier try, perhaps by a process
        that died, may have gone out) the chat is searched for that id first, and a message found is not sent.
        """
        message_id = message_id or new_message_id()
        key = own_message_key(chat_id, message_id)
        unsure = maybe_sent  # a previous try may have gone out
        while True:
            bridge = await self._connected_bridge()
            try:
                if unsure and await self._call(bridge, FIND_MESSAGE_JS, key, action="look up a sent message"):
                    logger.info("message {} had gone out before the page was lost; not sending it again", message_id)
                    return key
                result = await self._call(
                    bridge,
                    SEND_TEXT_JS,
                    {"chatId": chat_id, "text": text, "messageId": message_id},
                    action="send a message",
                )
            except (PageGone, PageTimeout) as error:
                unsure = True
                logger.warning("{}; sending again once WhatsApp is connected", error)
                await self._until_page_changes(bridge)
                continue
            if "refused" not in result:
                return str(result["id"])
            if result.get("steady"):
                raise PageRefused(f"cannot send a message: {result['refused']}")
            # Refused because the connection moved under us: hold it until the state says connected again
            # (its event may still be on the way: then wait for it, briefly, instead of trying in a loop).
            logger.info("sending held ({}): WhatsApp's connection is changing", result["refused"])
            if self.connection.connected:
                await self.connection.wait_change(timeout_s=1.0)

    async def find_sent(self, chat_id: str, message_id: str) -> str | None:
        """WhatsApp's id of the message the bot sent to `chat_id` with `message_id`, or None if it never went
        out. Waits for the connection, like sending."""
        key = own_message_key(chat_id, message_id)
        while True:
            bridge = await self._connected_bridge()
            try:
                found = await self._call(bridge, FIND_MESSAGE_JS, key, action="look up a sent message")
            except (PageGone, PageTimeout) as error:
                logger.warning("{}; looking again once WhatsApp is connected", error)
                await self._until_page_changes(bridge)
                continue
            return key if found else None

    async def download_media(self, message_wa_id: str, *, max_bytes: int) -> DownloadedMedia | None:
        """The file of a media message (an image the model is to see), or None when WhatsApp has none for it (a
        text, a location, a message the page no longer holds) or it is larger than `max_bytes`.

        Waits for the connection, like sending, and asks again if the page is lost mid-download (reading is
        harmless to repeat). A page that fails the download raises WhatsAppError (PageTimeout, PageRefused).
        """
        argument = {"id": message_wa_id, "maxBytes": max_bytes}
        while True:
            bridge = await self._connected_bridge()
            try:
                result = await self._call(bridge, DOWNLOAD_MEDIA_JS, argument, action="download media")
            except PageGone as error:
                logger.warning("{}; downloading again once WhatsApp is connected", error)
                await self._until_page_changes(bridge)
                continue
            if not isinstance(result, dict):
                raise PageRefused(f"cannot download media: the page answered {type(result).__name__}")
            refused = result.get("refused")
            if refused == NOT_LOADED:
                if self.connection.connected:
                    await self.connection.wait_change(timeout_s=1.0)
                continue
            if refused is not None:
                logger.info("message {}: no media downloaded: {}", message_wa_id, result.get("reason") or refused)
                return None
            return _downloaded(result, max_bytes)

    async def mark_read(self, chat_id: str, *, answered: str) -> bool:
        """Blue ticks for the contact, once `answered` (a WhatsApp message id) is the newest message they are
        waiting on; only when connected, never held. Returns whether the chat was marked read."""
        bridge = self._bridge_if_connected("mark a chat as read")
        return bool(
            await self._call(bridge, MARK_READ_JS, {"chatId": chat_id, "answered": answered}, action="mark read")
        )

    async def set_typing(self, chat_id: str) -> None:
        """Show "typing..." to the contact until the next message is sent: only when connected, never held."""
        await self._call(self._bridge_if_connected("show typing"), TYPING_JS, chat_id, action="show typing")

    async def request_pairing_code(self, phone: str) -> str:
        """An 8-character code to type on the phone instead of scanning the QR; only on the login screen."""
        if self.state is not ConnectionState.NEEDS_LOGIN or self._supervisor.bridge is None:
            raise NotReady(f"cannot ask for a pairing code: WhatsApp is {self.state.value}, not waiting for login")
        digits = "".join(ch for ch in phone if ch.isdigit())
        code = await self._call(self._supervisor.bridge, PAIRING_CODE_JS, digits, action="ask for a pairing code")
        return str(code)

    async def _call(self, bridge: PageBridge, script: str, argument: Any, *, action: str) -> Any:
        return await bridge.call(script, argument, timeout_s=self._settings.whatsapp_action_timeout_s, action=action)

    def _bridge_if_connected(self, action: str) -> PageBridge:
        bridge = self._supervisor.bridge
        if not self.connection.connected or bridge is None:
            raise NotReady(f"cannot {action}: WhatsApp is {self.state.value}")
        return bridge

    async def _connected_bridge(self) -> PageBridge:
        while True:
            await self.connection.wait_for(ConnectionState.CONNECTED, timeout_s=None)
            if (bridge := self._supervisor.bridge) is not None:
                return bridge
            await self.connection.wait_change(timeout_s=1.0)

    async def _until_page_changes(self, bridge: PageBridge) -> None:
        """The page failed under us: wait until the supervisor has noticed (the state or the page changed), at
        most as long as its watchdog needs to notice a hung page."""
        settings = self._settings
        seen = self.connection.generation
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.whatsapp_probe_interval_s + settings.whatsapp_probe_timeout_s):
                while self.connection.generation == seen and self._supervisor.bridge is bridge:
                    await self.connection.wait_change(timeout_s=settings.whatsapp_probe_interval_s)


def _downloaded(result: dict[str, Any], max_bytes: int) -> DownloadedMedia | None:
    """The bridge's {mimetype, data (base64), size} as a DownloadedMedia; raises PageRefused when malformed."""
    try:
        data = base64.b64decode(result["data"], validate=True)
        media = DownloadedMedia(mime_type=result["mimetype"] or "application/octet-stream", data=data)
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise PageRefused(f"cannot download media: the page answered a malformed file ({error})") from error
    # The bridge refuses larger files already; held to the limit here too, whatever the page answered.
    return media if media.size <= max_bytes else None
