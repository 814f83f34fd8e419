"""A client for the simulator's control API, for tests, benchmarks and anyone checking the bot from outside.

Waiting is event-driven: a PhoneSession holds the /ws/phone socket of one contact and wakes on the
simulator's pushes (a reply arrived, the link status changed) instead of polling.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from pydantic import BaseModel, Field


class SentMessage(BaseModel):
    id: str
    to: str
    chat: str
    text: str
    time: float
    ack: int


class GeminiMedia(BaseModel):
    """A file a request carried inline (an image the bot attached): its type and size."""

    mime_type: str
    bytes: int


class GeminiTurn(BaseModel):
    role: str
    text: str
    media: list[GeminiMedia] = []


class GeminiRequest(BaseModel):
    model: str
    method: str = Field("generateContent", description="generateContent, batchEmbedContents, ...")
    system_instruction: str | None = None
    contents: list[GeminiTurn]

    @property
    def all_text(self) -> str:
        return "\n".join([self.system_instruction or "", *(turn.text for turn in self.contents)])

    @property
    def media(self) -> list[GeminiMedia]:
        """Every file the request carried, in order."""
        return [media for turn in self.contents for media in turn.media]


class SimulatorError(RuntimeError):
    """The control API answered with an error status."""


class SimulatorClient:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_s = timeout_s
        # No connection limit: each open phone() holds a websocket, and a benchmark burst has 200 of them.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_s), connector=aiohttp.TCPConnector(limit=0)
        )

    async def __aenter__(self) -> SimulatorClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        async with self._http.request(method, self.base_url + path, json=body, params=params) as response:
            data = await response.json()
            if response.status != 200:
                raise SimulatorError(f"{method} /{path}: HTTP {response.status}: {data}")
            return data

    async def link(self, code: str | None = None, ref: str | None = None) -> None:
        """The operator scans the QR code shown by the bot's page (the one showing `ref`, if given), or types
        the pairing `code` the page generated (ABCD-EFGH) on the phone."""
        body = {key: value for key, value in (("code", code), ("ref", ref)) if value is not None}
        await self._call("POST", "api/link", body)

    async def send(self, number: str, text: str, *, name: str | None = None, **extra: Any) -> str:
        """A contact sends a message; returns WhatsApp's id for it."""
        body = {"from": number, "text": text, **({"name": name} if name else {}), **extra}
        return str((await self._call("POST", "api/messages", body))["id"])

    async def send_media(
        self,
        number: str,
        kind: str,
        *,
        caption: str | None = None,
        data: bytes | None = None,
        mimetype: str | None = None,
        **extra: Any,
    ) -> str:
        """A contact sends media (image, ptt, sticker, location...), with a caption where WhatsApp allows one.

        `data` is the file WPP.chat.downloadMedia gives back (an image without it is a small PNG), `mimetype` its
        type (guessed from the bytes when left out)."""
        body: dict[str, Any] = {"from": number, "type": kind}
        if caption is not None:
            body["caption"] = caption
        if data is not None:
            body["data"] = base64.b64encode(data).decode("ascii")
        if mimetype is not None:
            body["mimetype"] = mimetype
        return str((await self._call("POST", "api/messages", body | extra))["id"])

    async def send_from_phone(self, to: str, text: str, **extra: Any) -> str:
        """The operator types a message to `to` on the phone (an own message, not sent by the bot)."""
        body = {"from_me": True, "to": to, "text": text, **extra}
        return str((await self._call("POST", "api/messages", body))["id"])

    async def sent(self, to: str | None = None) -> list[SentMessage]:
        params = {"to": to} if to else None
        return [SentMessage.model_validate(item) for item in await self._call("GET", "api/sent", params=params)]

    async def pushed(self, ids: list[str] | None = None) -> dict[str, float]:
        """When the simulator pushed each new message to a page (unix seconds), by serialized key; only `ids`."""
        params = {"ids": ",".join(ids)} if ids else None
        return {key: float(at) for key, at in (await self._call("GET", "api/pushed", params=params)).items()}

    async def status(self) -> dict[str, Any]:
        return dict(await self._call("GET", "api/status"))

    async def set_state(self, state: str) -> None:
        await self._call("POST", "api/state", {"state": state})

    async def logout(self) -> None:
        await self._call("POST", "api/logout", {})

    async def reload_pages(self) -> int:
        """Every connected page reloads, as WhatsApp Web does after an update; returns how many did."""
        return int((await self._call("POST", "api/page/reload", {}))["reloaded"])

    async def rotate_qr(self) -> None:
        """Every page on the QR screen shows a new code now."""
        await self._call("POST", "api/qr/rotate", {})

    async def qr_idle(self) -> None:
        """Every page on the QR screen goes idle ("click to reload QR code")."""
        await self._call("POST", "api/qr/idle", {})

    async def set_main_ready(self, mode: str, delay_ms: float = 0) -> None:
        """When conn.main_ready fires on pages that open or link from now on: normal, never or before-auth."""
        await self._call("POST", "api/main-ready", {"mode": mode, "delay_ms": delay_ms})

    async def chats(self) -> list[dict[str, Any]]:
        """The chats with their unread counts (GET /api/chats)."""
        return list(await self._call("GET", "api/chats"))

    async def gemini_requests(self) -> list[GeminiRequest]:
        return [GeminiRequest.model_validate(item) for item in await self._call("GET", "api/gemini/requests")]

    async def gemini_behaviour(self, **behaviour: Any) -> None:
        """fail_next=N with status=503, or delay_ms=...; no arguments resets."""
        await self._call("POST", "api/gemini/behaviour", behaviour)

    @asynccontextmanager
    async def phone(self, number: str) -> AsyncIterator[PhoneSession]:
        """Be `number`'s phone while the block runs: see the bot's replies and link status as they change."""
        url = self.base_url.replace("http", "ws", 1) + "ws/phone"
        async with self._http.ws_connect(url) as ws:
            session = PhoneSession(self, number, ws)
            await ws.send_json({"type": "hello", "number": number})
            reader = asyncio.create_task(session._read(), name=f"simulator-client:phone:{number}")
            try:
                # The welcome carries the conversation so far; counts start from it.
                async with asyncio.timeout(self.timeout_s):
                    await session._welcomed.wait()
                yield session
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


class PhoneSession:
    def __init__(self, client: SimulatorClient, number: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._client = client
        self.number = number
        self._ws = ws
        self._bot_messages: set[str] = set()
        self.status: dict[str, Any] = {}
        self._changed = asyncio.Condition()
        self._welcomed = asyncio.Event()

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = message.json()
            async with self._changed:
                if data.get("type") == "welcome":
                    self.status = data.get("status") or self.status
                    self._bot_messages |= {m["id"] for m in data.get("history", []) if m.get("by_bot")}
                    self._welcomed.set()
                elif data.get("type") == "status":
                    self.status = data["status"]
                elif data.get("type") == "message" and data["msg"].get("by_bot"):
                    self._bot_messages.add(data["msg"]["id"])
                self._changed.notify_all()

    async def _wait(self, condition: Callable[[], bool], timeout_s: float | None) -> None:
        async with asyncio.timeout(timeout_s or self._client.timeout_s), self._changed:
            await self._changed.wait_for(condition)

    @property
    def reply_count(self) -> int:
        """Messages the bot has sent this contact so far."""
        return len(self._bot_messages)

    async def wait_for_replies(self, count: int = 1, timeout_s: float | None = None) -> list[SentMessage]:
        """Until the bot has sent this contact `count` messages in all; returns them, in order."""
        await self._wait(lambda: len(self._bot_messages) >= count, timeout_s)
        return await self._client.sent(to=self.number)

    async def wait_for_status(
        self, condition: Callable[[dict[str, Any]], bool], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Until the simulator's status (as /api/status) satisfies `condition`."""
        await self._wait(lambda: bool(self.status) and condition(self.status), timeout_s)
        return self.status
