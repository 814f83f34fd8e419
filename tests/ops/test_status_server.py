"""The status server on a real port of 127.0.0.1, in front of stand-ins for the daemon's parts."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import segno
from aiohttp import web
from loguru import logger
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import StartupError
from bot.ops.commands import PausedContact, StatusReport
from bot.ops.http_auth import require_token
from bot.ops.metrics import LiveState, Metrics
from bot.ops.status_server import LoginCodeWatch, StatusServer
from bot.resilience import CircuitBreaker
from bot.settings import Settings
from bot.whatsapp import ConnectionState
from bot.whatsapp.events import LoginCode

TOKEN = "a-test-token-of-some-length"
CODE = LoginCode(ref="ref-1", full_code="2@ref-1,public-key,identity,adv-secret")


@dataclass
class FakeQueue:
    waiting: int = 0
    running: int = 0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Daemon:
    """The parts the server reads, as a test sets them."""

    connection: ConnectionState = ConnectionState.CONNECTED
    database_up: bool = True
    queue: FakeQueue = field(default_factory=FakeQueue)
    clock: Clock = field(default_factory=Clock)
    reports: int = 0

    def __post_init__(self) -> None:
        self.ai = CircuitBreaker("ai", failures=1, window_s=60.0, open_s=30.0, clock=self.clock)
        self.send = CircuitBreaker("send", failures=1, window_s=60.0, open_s=30.0, clock=self.clock)

    def live(self, profile_dir: Path) -> LiveState:
        return LiveState(
            connection=lambda: self.connection,
            database_up=lambda: self.database_up,
            queue=self.queue,
            breakers={"ai": self.ai, "send": self.send},
            profile_dir=profile_dir,
        )

    async def status(self) -> StatusReport:
        self.reports += 1
        return StatusReport(
            connection=self.connection.value,
            waiting=self.queue.waiting,
            answering=self.queue.running,
            ai_breaker=self.ai.state.value,
            send_breaker=self.send.state.value,
            paused=[PausedContact(name="Ana", phone="15551234567", until=None, reason="escalated")],
            received_today=7,
            replies_today=6,
        )


@pytest.fixture
def daemon() -> Daemon:
    return Daemon()


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log line written while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)


MakeServer = Callable[..., StatusServer]


@pytest.fixture
async def make_server(daemon: Daemon, tmp_path: Path) -> AsyncIterator[MakeServer]:
    """Builds servers on port 0 (not started); every one is stopped after the test."""
    made: list[StatusServer] = []

    def make(**options: Any) -> StatusServer:
        options.setdefault("token", TOKEN)
        options.setdefault("port", 0)
        server = StatusServer(
            daemon.live(tmp_path / "profile"),
            Metrics(process=False),
            status=daemon.status,
            login=options.pop("login", LoginCodeWatch()),
            **options,
        )
        made.append(server)
        return server

    yield make
    for server in made:
        await server.stop()


@pytest.fixture
async def server(make_server: MakeServer) -> StatusServer:
    started = make_server()
    await started.start()
    return started


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body, response


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_healthz_says_alive(server: StatusServer, http: aiohttp.ClientSession) -> None:
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    status, body, _ = await get(http, f"{server.url}/healthz")
    assert (status, body) == (200, {"status": "alive"})


async def test_ready_when_connected_with_the_database_and_the_model(
    server: StatusServer, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await get(http, f"{server.url}/readyz")
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": {
            "whatsapp": {"state": "connected", "ok": True},
            "database": {"state": "up", "ok": True},
            "ai_breaker": {"state": "closed", "ok": True},
            "send_breaker": {"state": "closed", "ok": True},
        },
    }


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (lambda d: setattr(d, "connection", ConnectionState.OFFLINE), "whatsapp"),
        (lambda d: setattr(d, "connection", ConnectionState.NEEDS_LOGIN), "whatsapp"),
        (lambda d: setattr(d, "database_up", False), "database"),
        (lambda d: d.ai.failed(), "ai_breaker"),
    ],
)
async def test_not_ready_says_which_part(
    server: StatusServer, http: aiohttp.ClientSession, daemon: Daemon, change: Callable[[Daemon], None], failing: str
) -> None:
    change(daemon)
    status, body, _ = await get(http, f"{server.url}/readyz")
    assert status == 503 and body["status"] == "not ready"
    assert [name for name, check in body["checks"].items() if not check["ok"]] == [failing]


async def test_an_open_send_breaker_is_shown_but_does_not_make_it_unready(
    server: StatusServer, http: aiohttp.ClientSession, daemon: Daemon
) -> None:
    daemon.send.failed()
    status, body, _ = await get(http, f"{server.url}/readyz")
    assert status == 200 and body["checks"]["send_breaker"] == {"state": "open", "ok": True}


async def test_an_ai_breaker_due_for_its_probe_counts_as_ready(
    server: StatusServer, http: aiohttp.ClientSession, daemon: Daemon
) -> None:
    daemon.ai.failed()
    daemon.clock.now += 31  # open_s passed: the next message tries the model again
    status, body, _ = await get(http, f"{server.url}/readyz")
    assert status == 200 and body["checks"]["ai_breaker"] == {"state": "open", "ok": True}


async def test_metrics_in_prometheus_format(server: StatusServer, http: aiohttp.ClientSession, daemon: Daemon) -> None:
    daemon.queue.waiting = 3
    async with http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    [waiting] = [s for s in families["whatsapp_bot_queue_depth"].samples if s.labels == {"state": "waiting"}]
    assert waiting.value == 3
    assert "whatsapp_bot_replies" in families and "whatsapp_bot_connection_state" in families


@pytest.mark.parametrize("path", ["/login", "/status"])
async def test_private_pages_need_the_token(server: StatusServer, http: aiohttp.ClientSession, path: str) -> None:
    for options in ({}, {"headers": {"Authorization": "Bearer wrong"}}, {"params": {"token": "wrong"}}):
        status, _, response = await get(http, f"{server.url}{path}", **options)
        assert status == 401, options
        assert response.headers["WWW-Authenticate"] == "Bearer"
    for options in ({"headers": BEARER}, {"params": {"token": TOKEN}}):
        status, _, _ = await get(http, f"{server.url}{path}", **options)
        assert status == 200, options


async def test_login_shows_the_current_qr_code(
    make_server: MakeServer, http: aiohttp.ClientSession, daemon: Daemon
) -> None:
    shown: list[LoginCode | None] = []

    async def presenter(code: LoginCode | None) -> None:
        shown.append(code)

    login = LoginCodeWatch(presenter)
    server = make_server(login=login)
    await server.start()
    daemon.connection = ConnectionState.NEEDS_LOGIN
    await login(CODE)
    assert shown == [CODE]  # the terminal and the PNG still get it

    status, page, response = await get(http, f"{server.url}/login", params={"token": TOKEN})
    assert status == 200 and response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert segno.make(CODE.full_code, error="l").svg_inline(scale=6, border=4, dark="#000", light="#fff") in page
    assert "Link a device" in page and "login --phone" in page  # how to scan, and the pairing-code way
    assert 'http-equiv="refresh"' in page  # codes rotate: the page follows them

    await login(None)  # the code expired or was used
    _, page, _ = await get(http, f"{server.url}/login", headers=BEARER)
    assert "<svg" not in page and "Not linked yet" in page and "needs-login" in page

    daemon.connection = ConnectionState.CONNECTED
    _, page, _ = await get(http, f"{server.url}/login", headers=BEARER)
    assert "<svg" not in page and "linked" in page and "login --phone" not in page


async def test_status_is_the_operators_report_as_json(
    server: StatusServer, http: aiohttp.ClientSession, daemon: Daemon
) -> None:
    daemon.database_up = False
    status, body, response = await get(http, f"{server.url}/status", headers=BEARER)
    assert status == 200 and response.headers["Cache-Control"] == "no-store"
    assert body["connection"] == "connected" and body["received_today"] == 7
    assert body["paused"] == [{"name": "Ana", "phone": "15551234567", "until": None, "reason": "escalated"}]
    assert body["database"] == "down" and body["ready"] is False


async def test_a_token_made_at_start_up_is_logged_once_with_the_login_address(
    make_server: MakeServer, http: aiohttp.ClientSession, logged: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # aiohttp's own loggers (its access log) are standard-library ones
    server = make_server(token=None)
    await server.start()
    token = server.token
    assert len(token) >= 24
    [line] = [line for line in logged if token in line]
    assert line.startswith("WARNING") and f"{server.url}/login?token={token}" in line

    for _ in range(2):
        status, _, _ = await get(http, f"{server.url}/login", params={"token": token})
        assert status == 200
    await server.stop()
    assert [line for line in logged if token in line] == [line]  # no access log, nothing else
    assert token not in caplog.text


async def test_a_configured_token_is_never_logged(
    make_server: MakeServer, http: aiohttp.ClientSession, logged: list[str]
) -> None:
    server = make_server()
    await server.start()
    await get(http, f"{server.url}/login", params={"token": TOKEN})
    assert logged and not [line for line in logged if TOKEN in line]


async def test_a_port_in_use_is_a_start_up_error(make_server: MakeServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server(port=port)
        with pytest.raises(StartupError, match=f"127.0.0.1:{port}: the port is in use"):
            await server.start()
    await server.stop()  # nothing to stop: safe


async def test_other_routes_are_mounted_before_start(make_server: MakeServer, http: aiohttp.ClientSession) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "from the constructor"})

    server = make_server(routes=[web.get("/api/hello", hello)])

    async def private(request: web.Request) -> web.Response:
        require_token(request, server.token)
        return web.json_response({"private": True})

    server.app.add_routes([web.get("/api/private", private)])
    await server.start()
    assert (await get(http, f"{server.url}/api/hello"))[:2] == (200, {"hello": "from the constructor"})
    assert (await get(http, f"{server.url}/api/private"))[0] == 401
    assert (await get(http, f"{server.url}/api/private", headers=BEARER))[:2] == (200, {"private": True})


def test_settings_choose_port_and_token(daemon: Daemon, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, status_port=9999, status_token=TOKEN)  # type: ignore[call-arg]
    server = StatusServer.from_settings(
        settings, daemon.live(tmp_path), Metrics(process=False), status=daemon.status, login=LoginCodeWatch()
    )
    assert (server.port, server.token) == (9999, TOKEN)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.status_enabled and defaults.status_port == 8765 and defaults.status_token is None
