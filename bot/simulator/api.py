"""The JSON control API (/api/...): the stable contract that tests, benchmarks and outside checkers drive."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from loguru import logger

from bot.simulator.gemini import FakeGemini
from bot.simulator.ids import normalise_link_code
from bot.simulator.inbound import BadInput, parse_incoming
from bot.simulator.pages import NoQrPage
from bot.simulator.sockets import Hub
from bot.simulator.state import SimState
from bot.simulator.stream import MainReady


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def bad_input_as_400(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One place turns a malformed call into a 400 with a clear message, for every handler."""
    try:
        return await handler(request)
    except BadInput as exc:
        return _error(400, str(exc))


async def _body(request: web.Request, *, required: bool) -> Any:
    """The JSON body; an empty body is {} unless the call needs one. Raises BadInput for broken JSON."""
    raw = await request.text()
    if not raw.strip():
        if required:
            raise BadInput("a JSON body is required")
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadInput(f"body is not valid JSON: {exc}") from exc


class ControlApi:
    """Handlers for /api/*, over the shared SimState, the socket hub and the fake Gemini."""

    def __init__(self, state: SimState, hub: Hub, gemini: FakeGemini) -> None:
        self._state = state
        self._hub = hub
        self._gemini = gemini

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/link", self.link)
        app.router.add_post("/api/messages", self.messages)
        app.router.add_get("/api/sent", self.sent)
        app.router.add_get("/api/pushed", self.pushed)
        app.router.add_get("/api/media/{key}", self.media)
        app.router.add_post("/api/state", self.set_state)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/status", self.status)
        app.router.add_get("/api/chats", self.chats)
        app.router.add_post("/api/page/reload", self.reload_pages)
        app.router.add_post("/api/qr/rotate", self.rotate_qr)
        app.router.add_post("/api/qr/idle", self.idle_qr)
        app.router.add_post("/api/main-ready", self.main_ready)
        app.router.add_get("/api/gemini/requests", self.gemini_requests)
        app.router.add_post("/api/gemini/behaviour", self.gemini_behaviour)

    async def link(self, request: web.Request) -> web.Response:
        body = await _body(request, required=False)
        if not isinstance(body, dict):
            return _error(400, 'expected a JSON object: {}, {"ref": ...} or {"code": "ABCD-EFGH"}')
        ref, code = body.get("ref"), body.get("code")
        if ref is not None and not isinstance(ref, str):
            return _error(400, '"ref" must be a string (the AuthCode ref or fullCode shown by the QR)')
        if code is not None and normalise_link_code(code) is None:
            return _error(400, '"code" must be the 8-character pairing code, e.g. "ABCD-EFGH"')
        try:
            pushes = self._state.link(ref, code)
        except NoQrPage as exc:
            return _error(409, f"{exc}: open the WhatsApp page first, or it is already linked")
        self._hub.dispatch(pushes)
        logger.info("simulator: linked")
        return web.json_response({"linked": True})

    async def messages(self, request: web.Request) -> web.Response:
        incoming = parse_incoming(await _body(request, required=True))
        key, pushes = self._state.post(incoming)
        self._hub.dispatch(pushes)
        return web.json_response({"id": key})

    async def media(self, request: web.Request) -> web.Response:
        """The file of a media message, as WhatsApp's media servers give it; what the page's downloadMedia fetches."""
        media = self._state.media(request.match_info["key"])
        if media is None:
            return _error(404, "no media for this message")
        return web.Response(body=media.data, headers={"Content-Type": media.mimetype})

    async def sent(self, request: web.Request) -> web.Response:
        return web.json_response(self._state.store.sent_log(request.query.get("to") or None))

    async def pushed(self, request: web.Request) -> web.Response:
        """When each new message went out to a page (unix seconds): a benchmark in another process reads it."""
        wanted = {key for key in request.query.get("ids", "").split(",") if key}
        pushed = self._hub.pushed_at
        return web.json_response({key: at for key, at in pushed.items() if not wanted or key in wanted})

    async def set_state(self, request: web.Request) -> web.Response:
        body = await _body(request, required=True)
        state = body.get("state") if isinstance(body, dict) else None
        if not isinstance(state, str):
            return _error(400, '"state" is required, e.g. {"state": "OFFLINE"}')
        try:
            pushes = self._state.set_state(state.upper())
        except ValueError as exc:
            return _error(400, str(exc))
        self._hub.dispatch(pushes)
        logger.info("simulator: state {}", state.upper())
        return web.json_response({"state": self._state.pages.state})

    async def reload_pages(self, request: web.Request) -> web.Response:
        pushes = self._state.reload_pages()
        self._hub.dispatch(pushes)
        logger.info("simulator: reloading {} page(s)", len(pushes))
        return web.json_response({"reloaded": len(pushes)})

    async def rotate_qr(self, request: web.Request) -> web.Response:
        try:
            self._hub.dispatch(self._state.rotate_all_qr())
        except NoQrPage as exc:
            return _error(409, str(exc))
        return web.json_response({"rotated": True})

    async def idle_qr(self, request: web.Request) -> web.Response:
        try:
            self._hub.dispatch(self._state.idle_all_qr())
        except NoQrPage as exc:
            return _error(409, str(exc))
        return web.json_response({"idle": True})

    async def main_ready(self, request: web.Request) -> web.Response:
        setting = MainReady.parse(await _body(request, required=False))
        self._state.set_main_ready(setting)
        logger.info("simulator: main-ready {}", setting.describe())
        return web.json_response(setting.describe())

    async def logout(self, request: web.Request) -> web.Response:
        self._hub.dispatch(self._state.logout())
        logger.info("simulator: logged out by the phone")
        return web.json_response({"linked": False})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self._state.status())

    async def chats(self, request: web.Request) -> web.Response:
        return web.json_response(self._state.store.chats())

    async def gemini_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self._gemini.requests)

    async def gemini_behaviour(self, request: web.Request) -> web.Response:
        body = await _body(request, required=False)
        try:
            return web.json_response(self._gemini.set_behaviour(body))
        except ValueError as exc:
            return _error(400, str(exc))
