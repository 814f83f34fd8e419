"""Fixtures for the simulator's own tests: an HTTP client and fake WhatsApp Web pages with an event log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from bot.simulator import Simulator

WAIT_S = 5.0

# Runs before the page's own scripts: the moment wpp.js assigns window.WPP, subscribe to every event the bot
# uses and report each one to Python, so no event is missed and tests wait on events instead of polling.
RECORDER_JS = """
(() => {
  const NAMES = ['conn.auth_code_change', 'conn.authenticated', 'conn.main_ready', 'conn.logout',
                 'conn.stream_mode_changed', 'conn.stream_info_changed', 'conn.online', 'conn.qrcode_idle',
                 'chat.new_message', 'chat.msg_ack_change'];
  let wpp;
  Object.defineProperty(window, 'WPP', {
    configurable: true,
    get() { return wpp; },
    set(value) {
      wpp = value;
      for (const name of NAMES) {
        value.on(name, (payload) => {
          const plain = payload && typeof payload.serialize === 'function' ? payload.serialize() : payload;
          window.__simEvent(name, plain === undefined ? null : plain);
        });
      }
    },
  });
})();
"""

# Reads the link token straight from IndexedDB, where the page keeps it (not through the page's own code).
STORED_TOKEN_JS = """
() => new Promise((resolve, reject) => {
  const open = indexedDB.open('simulator-session');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('keys')) { db.close(); resolve(null); return; }
    const get = db.transaction('keys').objectStore('keys').get('linkToken');
    get.onsuccess = () => { db.close(); resolve(get.result === undefined ? null : get.result); };
    get.onerror = () => reject(get.error);
  };
})
"""


@dataclass
class EventLog:
    """WPP events of one page, across reloads, in the order the page emitted them."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def record(self, _source: Any, name: str, payload: Any) -> None:
        async with self._changed:
            self.events.append((name, payload))
            self._changed.notify_all()

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def payloads(self, name: str) -> list[Any]:
        return [payload for event, payload in self.events if event == name]

    async def wait_for(
        self, predicate: Callable[[list[tuple[str, Any]]], bool], timeout_s: float = WAIT_S
    ) -> list[tuple[str, Any]]:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self.events))
        return self.events

    async def wait_count(self, name: str, count: int = 1, timeout_s: float = WAIT_S) -> list[Any]:
        """Wait until `name` was emitted at least `count` times; returns its payloads."""
        await self.wait_for(lambda events: sum(e == name for e, _ in events) >= count, timeout_s)
        return self.payloads(name)


@dataclass
class WaPage:
    context: BrowserContext
    page: Page
    log: EventLog

    async def ready(self, timeout_s: float = WAIT_S) -> None:
        """Until WPP.isReady (the page has its first answer from the simulator)."""
        async with asyncio.timeout(timeout_s):
            await self.page.evaluate("() => new Promise((resolve) => WPP.loader.onReady(() => resolve(true)))")

    async def js(self, expression: str, arg: Any = None) -> Any:
        """page.evaluate, bounded in time (page.evaluate itself has no timeout)."""
        async with asyncio.timeout(WAIT_S):
            return await self.page.evaluate(expression, arg)

    async def rejection(self, expression: str, arg: Any = None) -> dict[str, Any] | None:
        """Run an async expression; None if it resolves, else the error's {"message", "code"}."""
        wrapped = f"(arg) => Promise.resolve().then(() => ({expression})(arg)).then(() => null, " + (
            "(e) => ({message: String(e && e.message), code: e && e.code !== undefined ? e.code : null}))"
        )
        return await self.js(wrapped, arg)

    async def stored_token(self) -> str | None:
        return await self.js(STORED_TOKEN_JS)

    def modes(self) -> list[str]:
        return self.log.payloads("conn.stream_mode_changed")

    async def wait_mode(self, mode: str, count: int = 1) -> None:
        """Until the page's stream mode is `mode`, having been so `count` times in all."""
        await self.log.wait_for(lambda _: self.modes()[-1:] == [mode] and self.modes().count(mode) >= count)


OpenPage = Callable[..., Awaitable[WaPage]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as session:
        yield session


@pytest.fixture
async def open_page(browser: Browser, simulator: Simulator) -> AsyncIterator[OpenPage]:
    """Opens the fake WhatsApp Web (of the test's simulator, or `sim`) in a fresh context (or a given one) with
    an EventLog; closes what it opened."""
    contexts: list[BrowserContext] = []

    async def _open(
        context: BrowserContext | None = None, *, record: bool = True, sim: Simulator | None = None
    ) -> WaPage:
        if context is None:
            context = await browser.new_context()
            contexts.append(context)
        page = await context.new_page()
        log = EventLog()
        if record:
            await page.expose_binding("__simEvent", log.record)
            await page.add_init_script(RECORDER_JS)
        await page.goto((sim or simulator).base_url, timeout=WAIT_S * 1000)
        wa = WaPage(context, page, log)
        await wa.ready()
        return wa

    yield _open
    for context in contexts:
        await context.close()


async def api(http: aiohttp.ClientSession, sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    """Call the control API and return the JSON, failing the test on an HTTP error."""
    async with http.request(method, sim.base_url + path, json=body) as response:
        data = await response.json()
        assert response.status == 200, (response.status, data)
        return data


@pytest.fixture
def call_api(http: aiohttp.ClientSession, simulator: Simulator) -> Callable[..., Awaitable[Any]]:
    async def _call(method: str, path: str, body: Any = None) -> Any:
        return await api(http, simulator, method, path, body)

    return _call
