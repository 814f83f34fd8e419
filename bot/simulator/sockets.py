"""The websockets: /ws/page for fake WhatsApp Web tabs, /ws/phone for the people playing contacts.

Each socket has one writer task fed by a queue, so pushes reach a socket in exactly the order SimState made them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from loguru import logger

from bot.simulator.ids import normalise_number
from bot.simulator.pages import Push, Rejected
from bot.simulator.state import SimState

HEARTBEAT_S = 20.0


class Peer:
    """One websocket and its ordered outbox."""

    def __init__(self, ws: web.WebSocketResponse, name: str, pushed_at: dict[str, float] | None = None) -> None:
        self.ws = ws
        self.name = name
        self._pushed_at = pushed_at
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name=f"simulator:{name}:writer")

    def send(self, payload: dict[str, Any]) -> None:
        self._outbox.put_nowait(payload)

    async def _write(self) -> None:
        while (payload := await self._outbox.get()) is not None:
            try:
                await self.ws.send_json(payload)
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("simulator: {} gone while sending: {}", self.name, exc)
                return
            if self._pushed_at is not None and payload.get("type") == "message":
                self._pushed_at[payload["msg"]["id"]["_serialized"]] = time.time()

    async def finish(self) -> None:
        """Let queued pushes go out, then stop the writer."""
        self._outbox.put_nowait(None)
        await self._writer


class Hub:
    """Routes SimState pushes to sockets and timers, and turns socket messages into SimState calls."""

    def __init__(self, state: SimState) -> None:
        self._state = state
        self._pages: dict[str, Peer] = {}
        self._phones: dict[Peer, str | None] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        # When each new message went out to a page (wall clock, by serialized key): the benchmarks' detection start.
        self.pushed_at: dict[str, float] = {}

    def dispatch(self, pushes: list[Push]) -> None:
        for push in pushes:
            if push.target == "timer":
                self._start_timer(push)
            elif push.target == "page":
                if peer := self._pages.get(push.key):
                    peer.send(push.payload)
            else:
                for peer, number in self._phones.items():
                    if push.target == "phones" or number == push.key:
                        peer.send(push.payload)

    def _start_timer(self, push: Push) -> None:
        """Call SimState.on_timer when it is due; SimState ignores timers that no longer apply."""

        def fire() -> None:
            self._timers.discard(handle)
            self.dispatch(self._state.on_timer(push.key, push.payload))

        handle = asyncio.get_running_loop().call_later(float(push.payload["delay_s"]), fire)
        self._timers.add(handle)

    async def close_all(self) -> None:
        """Stop the timers and close every socket (server shutdown); the handlers then clean up after themselves."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator stopping")

    async def page_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
        await ws.prepare(request)
        self._sockets.add(ws)
        peer = Peer(ws, "page", self.pushed_at)
        page_id: str | None = None
        try:
            async for data in _json_messages(ws):
                if data.get("type") == "hello" and page_id is None:
                    token = data.get("token") if isinstance(data.get("token"), str) else None
                    page, pushes = self._state.open_page(token)
                    page_id, peer.name = page.id, page.id
                    self._pages[page_id] = peer
                    logger.info("simulator: {} connected ({})", page_id, page.stage)
                    self.dispatch(pushes)
                elif data.get("type") == "call":
                    self._page_call(page_id, peer, data)
        finally:
            if page_id is not None:
                self._pages.pop(page_id, None)
                self.dispatch(self._state.close_page(page_id))
                logger.info("simulator: {} disconnected", page_id)
            self._sockets.discard(ws)
            await peer.finish()
        return ws

    def _page_call(self, page_id: str | None, peer: Peer, data: dict[str, Any]) -> None:
        """One WPP function call from a page; the reply is a push too, so it is ordered with the events."""
        req, method, args = data.get("req"), data.get("method"), data.get("args")
        args = args if isinstance(args, dict) else {}
        state = self._state
        result: Any = None
        pushes: list[Push] = []
        after: list[Push] = []
        try:
            if page_id is None:
                raise Rejected("the page has not said hello yet")
            if method == "sendTextMessage":
                result, pushes = state.send_text(
                    page_id,
                    args.get("chatId"),
                    args.get("content"),
                    args.get("messageId"),
                    mark_read=args.get("markIsRead") is not False,
                )
                after = state.confirm_delivery(result["id"]) if pushes else []
            elif method == "markIsRead":
                result, pushes = state.mark_read(page_id, args.get("chatId"))
            elif method in ("markIsComposing", "markIsPaused"):
                paused = method == "markIsPaused"
                pushes = state.composing(page_id, args.get("chatId"), args.get("duration"), paused=paused)
            elif method == "logout":
                result, after = True, state.logout()
            elif method == "takeOver":
                result, pushes = True, state.take_over(page_id)
            elif method == "refreshQR":
                result, pushes = state.refresh_qr(page_id)
            elif method == "genLinkCode":
                result = state.link_code(page_id, args.get("phone"))
            else:
                raise Rejected(f"unknown method {method!r}")
        except Rejected as exc:
            peer.send({"type": "reply", "req": req, "ok": False, "error": str(exc)})
            return
        self.dispatch(pushes)
        peer.send({"type": "reply", "req": req, "ok": True, "result": result})
        self.dispatch(after)

    async def phone_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
        await ws.prepare(request)
        self._sockets.add(ws)
        peer = Peer(ws, "phone")
        self._phones[peer] = None
        peer.send({"type": "status", "status": self._state.status()})
        try:
            async for data in _json_messages(ws):
                if data.get("type") == "hello":
                    number = normalise_number(data.get("number"))
                    if number is None:
                        peer.send({"type": "error", "error": "the number must be digits, e.g. 15551234567"})
                        continue
                    self._phones[peer] = number
                    peer.send(self._state.phone_welcome(number))
                elif data.get("type") == "seen" and (number := self._phones.get(peer)):
                    ids = data.get("ids")
                    self.dispatch(self._state.phone_seen(number, ids if isinstance(ids, list) else []))
        finally:
            self._phones.pop(peer, None)
            self._sockets.discard(ws)
            await peer.finish()
        return ws


async def _json_messages(ws: web.WebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    """JSON objects from a socket; anything else is logged and skipped."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            data = json.loads(msg.data)
        except json.JSONDecodeError:
            logger.warning("simulator: ignoring a non-JSON websocket message")
            continue
        if isinstance(data, dict):
            yield data
