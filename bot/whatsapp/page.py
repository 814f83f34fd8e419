"""The bridge between Python and one WhatsApp Web page: events in through a binding, calls out through evaluate.

Only the page's main frame on the WhatsApp origin may call the binding: Playwright exposes it to every frame, and
an iframe (an ad, a link preview, anything a message can embed) must not be able to fake a message or a state.
Errors of page calls are sorted here, once, into "the page is gone" (recover and retry), "no answer in time"
and "the page refused" (a real answer), so callers never parse Playwright's messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loguru import logger
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from bot.errors import WhatsAppError
from bot.ops.tasks import TaskSet
from bot.whatsapp.injection import install_bridge

BINDING_NAME = "__waBotEmit"  # bridge.js calls it
STATUS_JS = "() => (window.__waBot ? window.__waBot.status() : null)"

# Playwright's words for "this page, its document or its browser no longer exists".
GONE_MARKERS = ("closed", "destroyed", "detached", "crashed", "navigat", "disconnected")

EventSink = Callable[[str, Any], None]


class PageGone(WhatsAppError):
    """The page, its document or the browser went away during the call; whether it ran is unknown."""


class PageTimeout(WhatsAppError):
    """The page did not answer in time: hung, or still busy."""


class PageRefused(WhatsAppError):
    """The page answered with an error (wa-js refused the call)."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class PageBridge:
    """Binds one page: queues its events in order for the supervisor and makes calls into it with a deadline."""

    def __init__(self, page: Page, *, url: str, wa_js_path: Path, on_event: EventSink) -> None:
        self.page = page
        self._origin = origin_of(url)
        self._wa_js_path = wa_js_path
        self._on_event = on_event
        self._installs = TaskSet()
        self._rejected = 0

    async def attach(self) -> None:
        """Expose the binding; from now on every load of the page gets wa-js and the bridge again."""
        await self.page.expose_binding(BINDING_NAME, self._on_binding)
        self.page.on("domcontentloaded", self._on_loaded)

    def _on_loaded(self, page: Page) -> None:
        # A fresh document: whatever was injected before is gone. Tell the supervisor first, then reinstall.
        self._on_event("loaded", page.url)
        self._installs.spawn(self.install(), name="whatsapp:install")

    async def install(self) -> None:
        try:
            await install_bridge(self.page, self._wa_js_path)
        except PlaywrightError as error:
            # Usually the page navigated away mid-install; its next load installs again.
            logger.debug("installing the bridge did not finish: {}", first_line(error))

    def _on_binding(self, source: dict[str, Any], kind: str, payload: Any) -> None:
        # Kept synchronous so events are queued in exactly the order the page emitted them.
        frame = source.get("frame")
        if frame is not self.page.main_frame or origin_of(frame.url) != self._origin:
            self._rejected += 1
            if self._rejected == 1 or self._rejected % 100 == 0:
                url = origin_of(frame.url) if frame is not None else "unknown"
                logger.warning(
                    "ignored {} page event(s) from a frame that is not WhatsApp Web ({})", self._rejected, url
                )
            return
        self._on_event(kind, payload)

    async def call(self, script: str, argument: Any = None, *, timeout_s: float, action: str) -> Any:
        """Evaluate `script(argument)` in the page; raises PageGone, PageTimeout or PageRefused."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.page.evaluate(script, argument)
        except TimeoutError as error:
            raise PageTimeout(f"cannot {action}: the page did not answer within {timeout_s:g} s") from error
        except PlaywrightError as error:
            message = first_line(error)
            if self.page.is_closed() or any(marker in message.lower() for marker in GONE_MARKERS):
                raise PageGone(f"cannot {action}: {message}") from error
            raise PageRefused(f"cannot {action}: {message}") from error

    async def status(self, timeout_s: float) -> dict[str, Any] | None:
        """The bridge's status report, or None when the bridge is not (yet) in this document."""
        result = await self.call(STATUS_JS, timeout_s=timeout_s, action="probe the page")
        return result if isinstance(result, dict) else None

    async def close(self) -> None:
        await self._installs.cancel()


def first_line(error: PlaywrightError) -> str:
    lines = (error.message or str(error)).strip().splitlines()
    return lines[0] if lines else type(error).__name__
