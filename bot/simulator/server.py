"""The simulator's aiohttp app and the Simulator object that the tests, the demo and the benchmarks start."""

from __future__ import annotations

import io
from pathlib import Path
from types import TracebackType

import segno
from aiohttp import web
from loguru import logger

from bot.simulator.api import ControlApi, bad_input_as_400
from bot.simulator.gemini import FakeGemini
from bot.simulator.ids import normalise_number
from bot.simulator.sockets import Hub
from bot.simulator.state import SimState

STATIC_DIR = Path(__file__).parent / "static"
# What web.whatsapp.com enforces in spirit: nothing inline, everything from the page's own origin.
CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'"
QR_CODE_MAX_CHARS = 2048
SHUTDOWN_TIMEOUT_S = 2.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, websockets and static files included, carries the CSP."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers.setdefault("Cache-Control", "no-store")


def _file(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name)


async def _whatsapp_page(request: web.Request) -> web.FileResponse:
    return _file("whatsapp.html")


async def _phone_page(request: web.Request) -> web.FileResponse:
    return _file("phone.html")


async def _no_favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _qr_svg(request: web.Request) -> web.Response:
    """GET /qr.svg?code=<AuthCode.fullCode>: a real, scannable QR code, drawn on the server."""
    code = request.query.get("code", "")
    if not code or len(code) > QR_CODE_MAX_CHARS:
        return web.json_response({"error": f"code is required (at most {QR_CODE_MAX_CHARS} characters)"}, status=400)
    buffer = io.BytesIO()
    segno.make(code, error="l", micro=False).save(
        buffer, kind="svg", scale=4, border=4, dark="#111b21", light="#ffffff", xmldecl=False
    )
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml")


def create_app(state: SimState, hub: Hub, gemini: FakeGemini) -> web.Application:
    """Routes: the fake web.whatsapp.com, /phone, the websockets, the control API and the fake Gemini."""
    app = web.Application(middlewares=[bad_input_as_400])
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", _whatsapp_page)
    app.router.add_get("/phone", _phone_page)
    app.router.add_get("/favicon.ico", _no_favicon)
    app.router.add_get("/qr.svg", _qr_svg)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/ws/page", hub.page_socket)
    app.router.add_get("/ws/phone", hub.phone_socket)
    app.router.add_post("/gemini/{version}/models/{tail}", gemini.handle)
    app.router.add_get("/gemini/{version}/models/{tail}", gemini.get_model)
    ControlApi(state, hub, gemini).add_routes(app)

    async def close_sockets(_: web.Application) -> None:
        await hub.close_all()

    app.on_shutdown.append(close_sockets)
    return app


class Simulator:
    """Fake web.whatsapp.com plus fake Gemini on 127.0.0.1; `async with Simulator() as sim:` starts and stops it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        operator_number: str = "15550000000",
        qr_refresh_s: float = 20.0,
        qr_rotations_before_idle: int = 6,
        sync_ms: float = 0.0,
    ) -> None:
        """qr_refresh_s: seconds between automatic QR rotations (0: never); qr_rotations_before_idle: automatic
        rotations before the QR screen goes idle, as the real site does (0: never); sync_ms: how long a page stays
        in SYNCING after linking, loading or coming back online."""
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the simulator only binds to the loopback interface, not {host!r}")
        number = normalise_number(operator_number)
        if number is None:
            raise ValueError(f"operator_number must be digits, got {operator_number!r}")
        if qr_rotations_before_idle < 0 or sync_ms < 0 or qr_refresh_s < 0:
            raise ValueError("qr_refresh_s, qr_rotations_before_idle and sync_ms cannot be negative")
        self._host = host
        self._port = port
        self.state = SimState(
            number, qr_refresh_s=qr_refresh_s, qr_rotations_before_idle=qr_rotations_before_idle, sync_ms=sync_ms
        )
        self.gemini = FakeGemini()
        self.hub = Hub(self.state)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; port 0 picks a free port. Starting twice is an error."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        runner = web.AppRunner(
            create_app(self.state, self.hub, self.gemini), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        logger.info("simulator: listening on {}", self.base_url)

    async def stop(self) -> None:
        """Close the websockets and the server; safe to call twice or before start."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("simulator: stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The fake web.whatsapp.com, with a trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/"

    @property
    def gemini_base_url(self) -> str:
        """For google-genai: HttpOptions(base_url=sim.gemini_base_url)."""
        return self.base_url + "gemini/"

    @property
    def phone_url(self) -> str:
        return self.base_url + "phone"
