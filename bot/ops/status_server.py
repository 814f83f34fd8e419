"""The status server, on 127.0.0.1 only: what an operator, systemd's neighbours and Prometheus ask a running daemon.

Open to anyone on the machine: `/healthz` (the event loop runs), `/readyz` (it can answer messages now) and
`/metrics`. Behind the token (bot/ops/http_auth.py): `/login`, which shows the QR code that links the account
(whoever sees it can take the account over), and `/status`, the operator's /status as JSON. Other routes (the HTTP
API) are mounted on the same server: `server.app.add_routes(...)` before `start`.

The access log is off: a browser opening /login from the start-up line sends the token in the query string.
"""

from __future__ import annotations

import errno
import html
from collections.abc import Iterable
from typing import Any

import segno
from aiohttp import web
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST

from bot.errors import StartupError
from bot.ops.commands import StatusSource
from bot.ops.http_auth import new_token, require_token
from bot.ops.metrics import LiveState, Metrics
from bot.resilience import BreakerState, CircuitBreaker
from bot.settings import Settings
from bot.whatsapp.events import LoginCode, LoginCodeHandler
from bot.whatsapp.login import HOW_TO_PAIR, HOW_TO_SCAN
from bot.whatsapp.states import ConnectionState

HOST = "127.0.0.1"
SHUTDOWN_TIMEOUT_S = 1.0
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token may be in the page's address
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
# Linked to the phone, whether or not messages flow right now: no code to show.
LINKED_STATES = frozenset(
    {ConnectionState.SYNCING, ConnectionState.CONNECTED, ConnectionState.OFFLINE, ConnectionState.CONFLICT}
)
LOGIN_REFRESH_S = 5  # codes rotate about every 20 s


class LoginCodeWatch:
    """A login code handler that remembers the current code for /login, then hands it on (to the QrPresenter)."""

    def __init__(self, presenter: LoginCodeHandler | None = None) -> None:
        self._presenter = presenter
        self.current: LoginCode | None = None

    async def __call__(self, code: LoginCode | None) -> None:
        self.current = code
        if self._presenter is not None:
            await self._presenter(code)


class StatusServer:
    """`start` binds 127.0.0.1:`port` (0: any free port, see `port`); `stop` is safe twice or before `start`.

    `token` guards /login, /status and any mounted routes that ask for it; None: one is made for this run and
    logged once, with the /login address, at start-up.
    """

    def __init__(
        self,
        live: LiveState,
        metrics: Metrics,
        *,
        status: StatusSource,
        login: LoginCodeWatch,
        port: int,
        token: str | None = None,
        routes: Iterable[web.AbstractRouteDef] = (),
    ) -> None:
        self._live = live
        self._metrics = metrics
        self._status = status
        self._login = login
        self._port = port
        self._made_token = token is None
        self._token = token if token is not None else new_token()
        self._runner: web.AppRunner | None = None
        metrics.watch(live)
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics_page),
                web.get("/login", self._login_page),
                web.get("/status", self._status_json),
                *routes,
            ]
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, live: LiveState, metrics: Metrics, *, status: StatusSource, login: LoginCodeWatch
    ) -> StatusServer:
        token = settings.status_token.get_secret_value() if settings.status_token is not None else None
        return cls(live, metrics, status=status, login=login, port=settings.status_port, token=token)

    @property
    def token(self) -> str:
        """What mounted routes check requests against (`require_token(request, server.token)`)."""
        return self._token

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen, once started on port 0)."""
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the status server is already started")
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, self._port).start()
        except OSError as error:
            await runner.cleanup()
            why = "the port is in use (another bot?)" if error.errno == errno.EADDRINUSE else error.strerror
            raise StartupError(
                f"the status server cannot listen on {HOST}:{self._port}: {why}; set STATUS_PORT to a free port, "
                "or STATUS_ENABLED=false"
            ) from error
        self._runner = runner
        self._port = runner.addresses[0][1]
        if self._made_token:
            # The one place the token is ever written: STATUS_TOKEN unset, so the operator needs it from here.
            logger.warning(
                "status server on {}; STATUS_TOKEN is not set, so this run has its own: open {}/login?token={} to "
                "link the phone, and pass it as `status --token`",
                self.url,
                self.url,
                self._token,
            )
        else:
            logger.info(
                "status server on {} (/healthz /readyz /metrics; /login and /status need STATUS_TOKEN)", self.url
            )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: connected to WhatsApp, the database up and the model not shut out by its breaker; each part's
        state either way."""
        connection = self._live.connection()
        database_up = self._live.database_up()
        checks: dict[str, Any] = {
            "whatsapp": {"state": connection.value, "ok": connection is ConnectionState.CONNECTED},
            "database": {"state": "up" if database_up else "down", "ok": database_up},
        }
        for name, breaker in self._live.breakers.items():
            checks[f"{name}_breaker"] = {"state": breaker.state.value, "ok": name != "ai" or _lets_through(breaker)}
        return all(check["ok"] for check in checks.values()), checks

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, checks = self.readiness()
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
        )

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _login_page(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        page = login_page(self._live.connection(), self._login.current)
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers=PRIVATE_HEADERS)

    async def _status_json(self, request: web.Request) -> web.Response:
        require_token(request, self._token)
        report = await self._status()
        ready, checks = self.readiness()
        body = {**report.model_dump(mode="json"), "database": checks["database"]["state"], "ready": ready}
        return web.json_response(body, headers={"Cache-Control": "no-store"})


def _lets_through(breaker: CircuitBreaker) -> bool:
    """Closed or half-open, or open but due for its probe (an idle bot would otherwise stay "not ready")."""
    return breaker.state is not BreakerState.OPEN or (breaker.retry_in_s() or 0.0) <= 0.0


def login_page(state: ConnectionState, code: LoginCode | None) -> str:
    """The /login page: the QR code while there is one, else whether the account is linked."""
    refresh = f'<meta http-equiv="refresh" content="{LOGIN_REFRESH_S}">'
    if code is not None:
        qr = segno.make(code.full_code, error="l").svg_inline(scale=6, border=4, dark="#000", light="#fff")
        title = "Link the bot"
        body = (
            f"<p>{html.escape(HOW_TO_SCAN)}.</p>{qr}"
            f"<p>The code changes about every 20 seconds; this page reloads itself every {LOGIN_REFRESH_S} s.</p>"
        )
    elif state in LINKED_STATES:
        title, refresh = "Linked", ""
        body = f"<p>The account is linked (WhatsApp: {html.escape(state.value)}). Nothing to do here.</p>"
    else:
        title = "Not linked yet"
        body = f"<p>WhatsApp: {html.escape(state.value)}. A code appears here when WhatsApp Web shows one.</p>"
    pairing = (
        "<p>No camera at hand? A pairing code links the account from its number instead: stop the bot, run "
        "<code>python run_bot.py login --phone +15551234567</code> (the account's own number), and follow it. "
        f"{html.escape(HOW_TO_PAIR)}.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width">{refresh}<title>WhatsApp bot: {title}</title>'
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}svg{display:block}</style>"
        f"</head><body><h1>{title}</h1>{body}{pairing if state not in LINKED_STATES else ''}</body></html>"
    )
