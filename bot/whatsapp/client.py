"""WhatsAppClient: the one owner of the browser and the WhatsApp Web page of an account.

Events come from the page through a Playwright binding (the page calls Python; nothing polls) and are
handled one at a time in page order, so two messages of one contact are never reordered here. Actions
(send, mark read, typing) are wa-js calls evaluated in the page.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from loguru import logger
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from pydantic import ValidationError

from bot.errors import NotReady, WhatsAppError
from bot.ops.tasks import TaskSet
from bot.settings import Settings
from bot.whatsapp.browser import launch_profile
from bot.whatsapp.events import (
    STREAM_MODE_STATES,
    ConnectionState,
    LoginCode,
    LoginCodeHandler,
    MessageHandler,
    PageMessage,
    StateChange,
    StateHandler,
    to_incoming,
)
from bot.whatsapp.injection import install_bridge

BINDING_NAME = "__waBotEmit"  # the bridge (bridge.js) calls it

SEND_TEXT_JS = """async ({chatId, text}) => {
  const result = await WPP.chat.sendTextMessage(chatId, text, {createChat: true});
  return {id: String(result.id), ack: result.ack};
}"""
MARK_READ_JS = "async (chatId) => { await WPP.chat.markIsRead(chatId); }"
# No duration: with one, wa-js's markIsComposing only resolves after it has run out. Sending ends "typing".
TYPING_JS = "async (chatId) => { await WPP.chat.markIsComposing(chatId); }"


class WhatsAppClient:
    def __init__(
        self,
        *,
        url: str,
        profile_dir: Path,
        wa_js_path: Path,
        on_message: MessageHandler,
        on_login_code: LoginCodeHandler | None = None,
        on_state: StateHandler | None = None,
        headless: bool = True,
        browser_executable: Path | None = None,
        action_timeout_s: float = 30.0,
        load_timeout_s: float = 120.0,
    ) -> None:
        self._url = url
        self._profile_dir = profile_dir
        self._wa_js_path = wa_js_path
        self._on_message = on_message
        self._on_login_code = on_login_code
        self._on_state = on_state
        self._headless = headless
        self._browser_executable = browser_executable
        self._action_timeout_s = action_timeout_s
        self._load_timeout_s = load_timeout_s

        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._tasks = TaskSet()
        self._install_lock = asyncio.Lock()
        # Replaced on every state change; waiters hold the old one and wake when it is set.
        self._state_changed = asyncio.Event()
        self._accepting_messages = True
        self.state = ConnectionState.STOPPED

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_message: MessageHandler,
        on_login_code: LoginCodeHandler | None = None,
        on_state: StateHandler | None = None,
    ) -> WhatsAppClient:
        return cls(
            url=settings.whatsapp_url,
            profile_dir=settings.profile_dir,
            wa_js_path=settings.wa_js_path,
            on_message=on_message,
            on_login_code=on_login_code,
            on_state=on_state,
            headless=settings.headless,
            browser_executable=settings.browser_executable,
            action_timeout_s=settings.whatsapp_action_timeout_s,
            load_timeout_s=settings.whatsapp_ready_timeout_s,
        )

    async def start(self) -> None:
        """Launch the browser on the account's profile and open WhatsApp Web; returns once the page loaded."""
        if self._context is not None:
            raise RuntimeError("WhatsAppClient already started")
        self._set_state(ConnectionState.STARTING)
        self._tasks.spawn(self._dispatch_events(), name="whatsapp:events")
        self._playwright = await async_playwright().start()
        self._context = await launch_profile(
            self._playwright, self._profile_dir, headless=self._headless, executable=self._browser_executable
        )
        await self._context.expose_binding(BINDING_NAME, self._on_binding)
        self._page = self._context.pages[0] if self._context.pages else await self._context.new_page()
        self._page.on("domcontentloaded", self._on_page_loaded)
        self._page.on("crash", lambda _: logger.error("the WhatsApp Web page crashed"))
        logger.info("opening WhatsApp Web at {} (profile {})", self._url, self._profile_dir)
        await self._page.goto(self._url, wait_until="domcontentloaded", timeout=self._load_timeout_s * 1000)

    async def wait_for_state(self, *states: ConnectionState, timeout_s: float) -> ConnectionState:
        """Wait until the connection is in one of `states`; returns it. Raises TimeoutError."""
        async with asyncio.timeout(timeout_s):
            while self.state not in states:
                await self._state_changed.wait()
        return self.state

    async def wait_until_ready(self, timeout_s: float) -> None:
        await self.wait_for_state(ConnectionState.READY, timeout_s=timeout_s)

    def stop_receiving(self) -> None:
        """First step of shutdown: messages arriving from now on are not stored or answered."""
        self._accepting_messages = False

    async def stop(self) -> None:
        """Close the page and the browser. Safe to call twice, or after a failed start."""
        self._accepting_messages = False
        await self._tasks.cancel()
        if self._context is not None:
            try:
                await self._context.close()
            except PlaywrightError as error:
                logger.warning("closing the browser: {}", error.message)
            self._context = None
            self._page = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
        self._set_state(ConnectionState.STOPPED, notify=False)

    async def send_text(self, chat_id: str, text: str) -> str:
        """Send a text message; returns WhatsApp's id for it."""
        result = await self._call(SEND_TEXT_JS, {"chatId": chat_id, "text": text}, action="send a message")
        return str(result["id"])

    async def mark_read(self, chat_id: str) -> None:
        await self._call(MARK_READ_JS, chat_id, action="mark a chat as read")

    async def set_typing(self, chat_id: str) -> None:
        """Show "typing..." to the contact until the next message is sent."""
        await self._call(TYPING_JS, chat_id, action="show typing")

    async def _call(self, script: str, argument: Any, *, action: str) -> Any:
        if self.state is not ConnectionState.READY or self._page is None:
            raise NotReady(f"cannot {action}: WhatsApp is {self.state.value}")
        try:
            async with asyncio.timeout(self._action_timeout_s):
                return await self._page.evaluate(script, argument)
        except TimeoutError as error:
            raise WhatsAppError(f"cannot {action}: no answer within {self._action_timeout_s:g} s") from error
        except PlaywrightError as error:
            raise WhatsAppError(f"cannot {action}: {error.message.splitlines()[0]}") from error

    def _on_page_loaded(self, page: Page) -> None:
        # Every load (first open, reload after logout) starts a fresh window: wa-js and the bridge go in again.
        self._tasks.spawn(self._install(page), name="whatsapp:install")

    async def _install(self, page: Page) -> None:
        async with self._install_lock:
            try:
                await install_bridge(page, self._wa_js_path)
            except PlaywrightError as error:
                # Usually the page navigated away mid-install; its next load installs again.
                logger.debug("installing the bridge did not finish: {}", error.message.splitlines()[0])
            except WhatsAppError as error:
                logger.error("{}", error)

    def _on_binding(self, source: Any, kind: str, payload: Any) -> None:
        # Kept synchronous so events are queued in exactly the order the page emitted them.
        self._events.put_nowait((kind, payload))

    async def _dispatch_events(self) -> None:
        while True:
            kind, payload = await self._events.get()
            try:
                await self._handle(kind, payload)
            except Exception:
                logger.exception("handling the page event {!r} failed", kind)

    async def _handle(self, kind: str, payload: Any) -> None:
        match kind:
            case "message":
                await self._handle_message(payload)
            case "bridge_ready":
                logger.debug("bridge installed (WPP {})", payload.get("version"))
                if payload.get("mainReady"):
                    await self._become_ready()
                elif payload.get("authenticated"):
                    self._set_state(ConnectionState.AUTHENTICATING)
            case "auth_code":
                if payload:
                    # Shown first: LOGIN_REQUIRED means the operator has a code in front of them.
                    await self._show_login_code(LoginCode(ref=payload["ref"], full_code=payload["fullCode"]))
                    self._set_state(ConnectionState.LOGIN_REQUIRED)
            case "authenticated":
                logger.info("linked to the phone; WhatsApp Web is loading")
                self._set_state(ConnectionState.AUTHENTICATING)
                await self._show_login_code(None)
            case "main_ready":
                await self._become_ready()
            case "logout":
                logger.warning("the phone unlinked this device: scan a new QR code to link it again")
                self._set_state(ConnectionState.LOGGED_OUT)
            case "stream_mode":
                if payload == "MAIN":
                    await self._become_ready()
                elif payload in STREAM_MODE_STATES:
                    self._set_state(STREAM_MODE_STATES[payload])
            case "online":
                if payload and self.state is ConnectionState.DISCONNECTED:
                    await self._become_ready()
                elif not payload and self.state is ConnectionState.READY:
                    self._set_state(ConnectionState.DISCONNECTED)
            case "ack":
                logger.trace("ack {} for {}", payload.get("ack"), payload.get("ids"))
            case _:
                logger.debug("unknown page event {!r}", kind)

    async def _handle_message(self, payload: Any) -> None:
        try:
            message = to_incoming(PageMessage.model_validate(payload))
        except ValidationError as error:
            logger.warning("ignored a message the page sent in an unexpected shape: {}", error)
            return
        if message is None:
            return
        if not self._accepting_messages:
            logger.warning("message {} arrived while stopping and is not answered", message.wa_id)
            return
        await self._on_message(message)

    async def _become_ready(self) -> None:
        if self.state is not ConnectionState.READY:
            await self._show_login_code(None)
        self._set_state(ConnectionState.READY)

    async def _show_login_code(self, code: LoginCode | None) -> None:
        if self._on_login_code is not None:
            await self._on_login_code(code)

    def _set_state(self, state: ConnectionState, *, notify: bool = True) -> None:
        previous, self.state = self.state, state
        if previous is state:
            return
        changed, self._state_changed = self._state_changed, asyncio.Event()
        changed.set()
        logger.info("WhatsApp: {} -> {}", previous.value, state.value)
        if notify and self._on_state is not None:
            self._tasks.spawn(self._on_state(StateChange(previous=previous, current=state)), name="whatsapp:state")
