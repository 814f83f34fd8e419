"""Alerts: one alert per incident however much the connection flaps, channels isolated from each other, and a
webhook channel that retries what may pass and never logs its URL's secrets."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from loguru import logger

from bot.ops.alerts import Alert, AlertDeliveryError, Alerts, WebhookAlertChannel, WhatsAppAlertChannel

from ..local_server import serve


class RecordingChannel:
    """Keeps every alert it is given; tests await a count instead of sleeping."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.alerts: list[Alert] = []
        self.closed = False
        self._changed = asyncio.Condition()

    async def deliver(self, alert: Alert) -> None:
        async with self._changed:
            self.alerts.append(alert)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.alerts) >= count)

    async def close(self) -> None:
        self.closed = True

    @property
    def kinds(self) -> list[str]:
        return [alert.kind for alert in self.alerts]


class FailingChannel:
    name = "failing"

    async def deliver(self, alert: Alert) -> None:
        raise RuntimeError("the channel broke")

    async def close(self) -> None:
        raise RuntimeError("closing broke too")


class StuckChannel:
    """Never finishes delivering, like a send held while WhatsApp stays down."""

    name = "stuck"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def deliver(self, alert: Alert) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line (with any traceback) written while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.rstrip("\n")), level="DEBUG", format="{level} {message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


async def test_flapping_sends_one_problem_and_one_back_notice(log_lines: list[str]) -> None:
    channel = RecordingChannel()
    clock = FakeClock()
    alerts = Alerts([channel], account="main", settle_s=0.05, clock=clock)
    for _ in range(20):
        alerts.problem("whatsapp", "WhatsApp is offline")
        clock.now += 1
        alerts.recovered("whatsapp", "connected")
        clock.now += 1
    assert alerts.is_open("whatsapp")
    await channel.wait_for(2)
    await alerts.close(timeout_s=5)  # waits for every delivery, so a stray third alert would be seen

    assert channel.kinds == ["problem", "recovered"]
    assert channel.alerts[0].text == "WhatsApp is offline"
    assert channel.alerts[1].text == "back after 39 s (flapped 19 times): connected"
    assert {alert.account for alert in channel.alerts} == {"main"}
    assert not alerts.is_open("whatsapp")
    assert sum(line.startswith("ERROR alert: ") for line in log_lines) == 1
    assert sum(line.startswith("SUCCESS alert: back after") for line in log_lines) == 1


async def test_the_back_notice_waits_for_the_settle_period() -> None:
    channel = RecordingChannel()
    alerts = Alerts([channel], account="main", settle_s=0.2)
    alerts.problem("whatsapp", "logged out")
    await channel.wait_for(1)
    loop = asyncio.get_running_loop()
    recovered_at = loop.time()
    alerts.recovered("whatsapp", "connected")
    await channel.wait_for(2)
    assert loop.time() - recovered_at >= 0.2 - 0.01  # asyncio may fire a timer up to its clock resolution early
    await alerts.close(timeout_s=5)
    assert channel.kinds == ["problem", "recovered"]


async def test_the_back_notice_says_how_long_it_was_down() -> None:
    channel = RecordingChannel()
    clock = FakeClock()
    alerts = Alerts([channel], account="main", settle_s=0, clock=clock)
    alerts.problem("whatsapp", "browser keeps dying")
    clock.now += 3 * 60 + 20
    alerts.recovered("whatsapp", "connected")
    assert not alerts.is_open("whatsapp")  # settle_s=0: closed at once
    await alerts.close(timeout_s=5)
    assert [alert.text for alert in channel.alerts] == ["browser keeps dying", "back after 3 min: connected"]


async def test_a_repeated_problem_is_not_redelivered_and_another_key_is_its_own_incident(
    log_lines: list[str],
) -> None:
    channel = RecordingChannel()
    alerts = Alerts([channel], account="main", settle_s=0)
    alerts.problem("whatsapp", "offline")
    alerts.problem("whatsapp", "offline")
    alerts.problem("whatsapp", "conflict: opened elsewhere")
    alerts.problem("storage", "MongoDB does not answer")
    await alerts.close(timeout_s=5)

    assert [(alert.key, alert.text) for alert in channel.alerts] == [
        ("whatsapp", "offline"),
        ("storage", "MongoDB does not answer"),
    ]
    assert alerts.is_open("whatsapp") and alerts.is_open("storage")
    assert "WARNING alert: still down: conflict: opened elsewhere" in log_lines
    assert sum(line.startswith("WARNING") for line in log_lines) == 1  # the unchanged repeat is not logged again


async def test_a_new_problem_after_the_back_notice_is_a_new_incident() -> None:
    channel = RecordingChannel()
    alerts = Alerts([channel], account="main", settle_s=0)
    alerts.problem("whatsapp", "offline")
    alerts.recovered("whatsapp", "connected")
    alerts.problem("whatsapp", "offline again")
    await alerts.close(timeout_s=5)
    assert channel.kinds == ["problem", "recovered", "problem"]


async def test_recovered_without_an_open_incident_delivers_nothing(log_lines: list[str]) -> None:
    channel = RecordingChannel()
    alerts = Alerts([channel], account="main", settle_s=0)
    alerts.recovered("whatsapp", "connected")
    await alerts.close(timeout_s=5)
    assert channel.alerts == []
    assert not any("alert:" in line for line in log_lines)


async def test_a_failing_channel_does_not_stop_the_others(log_lines: list[str]) -> None:
    channel = RecordingChannel()
    alerts = Alerts([FailingChannel(), channel], account="main", settle_s=0)
    alerts.problem("whatsapp", "logged out")
    await alerts.close(timeout_s=5)

    assert channel.kinds == ["problem"]
    assert channel.closed  # a channel whose close() raises does not keep the others open
    failures = [line for line in log_lines if line.startswith("ERROR alert: the failing channel failed")]
    assert len(failures) == 1
    assert "the channel broke" in failures[0]  # with its traceback


async def test_a_stuck_channel_blocks_neither_the_others_nor_close() -> None:
    stuck = StuckChannel()
    channel = RecordingChannel()
    alerts = Alerts([stuck, channel], account="main", settle_s=0)
    alerts.problem("whatsapp", "blocked")
    await channel.wait_for(1)
    async with asyncio.timeout(5):
        await stuck.started.wait()
    async with asyncio.timeout(5):
        await alerts.close(timeout_s=0.05)
    assert stuck.cancelled
    assert channel.kinds == ["problem"]


async def test_close_waits_for_deliveries_and_cancels_the_settle_timer(log_lines: list[str]) -> None:
    class GatedChannel(RecordingChannel):
        def __init__(self) -> None:
            super().__init__("gated")
            self.gate = asyncio.Event()

        async def deliver(self, alert: Alert) -> None:
            await self.gate.wait()
            await super().deliver(alert)

    channel = GatedChannel()
    settle_s = 0.05
    alerts = Alerts([channel], account="main", settle_s=settle_s)
    alerts.problem("whatsapp", "ready never reached")
    alerts.recovered("whatsapp", "connected")
    # The delivery finishes only after the settle deadline, so close() has to wait past it: a settle timer it
    # failed to cancel would fire meanwhile and log a back notice.
    asyncio.get_running_loop().call_later(settle_s * 3, channel.gate.set)
    await alerts.close(timeout_s=5)

    assert channel.kinds == ["problem"]
    assert not any("back after" in line for line in log_lines)


async def test_problem_after_close_is_still_logged_but_not_delivered(log_lines: list[str]) -> None:
    channel = RecordingChannel()
    alerts = Alerts([channel], account="main", settle_s=60)
    await alerts.close(timeout_s=5)
    alerts.problem("whatsapp", "logged out")
    alerts.recovered("whatsapp", "connected")
    assert channel.alerts == []
    assert "ERROR alert: logged out" in log_lines
    assert not alerts.is_open("whatsapp")


def test_settle_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        Alerts([], account="main", settle_s=-1)


def _alert(kind: str = "problem", text: str = "WhatsApp logged out: scan the QR code") -> Alert:
    return Alert(key="whatsapp", kind=kind, text=text, account="main", at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))


async def test_whatsapp_channel_sends_to_the_operator_chat() -> None:
    sent: list[tuple[str, str]] = []

    async def send(chat_id: str, text: str) -> str:
        sent.append((chat_id, text))
        return "message-id"

    channel = WhatsAppAlertChannel(send, "+1 (555) 123-4567")
    await channel.deliver(_alert())
    assert sent == [("15551234567@c.us", "[main] WhatsApp logged out: scan the QR code")]


@pytest.mark.parametrize("number", ["", "12345", "+1 555", "call me", "15551234567@c.us", "1234567890123456"])
def test_whatsapp_channel_rejects_bad_numbers(number: str) -> None:
    async def send(chat_id: str, text: str) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError):
        WhatsAppAlertChannel(send, number)


class HookServer:
    """A real HTTP server on 127.0.0.1 that answers with the given statuses in turn, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"body": await request.json(), "authorization": request.headers.get("Authorization")})
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 400 else "no")

    def url(self, port: int | None = None) -> str:
        return f"http://alerts:hunter2@127.0.0.1:{port or self.port}/hook/s3cr3t-path?token=tok3n"


SECRETS = ("hunter2", "s3cr3t-path", "tok3n")


@pytest.fixture
async def hook() -> AsyncIterator[HookServer]:
    server = HookServer()
    app = web.Application()
    app.router.add_post("/hook/{secret}", server.handle)
    async with serve(app) as base_url:
        server.port = int(urlsplit(base_url).port or 0)
        yield server


@pytest.fixture
async def webhook(hook: HookServer) -> AsyncIterator[WebhookAlertChannel]:
    channel = WebhookAlertChannel(hook.url(), timeout_s=5, attempts=3, backoff_s=0.01)
    try:
        yield channel
    finally:
        await channel.close()


async def test_webhook_posts_the_alert_as_json(hook: HookServer, webhook: WebhookAlertChannel) -> None:
    await webhook.deliver(_alert())
    assert [request["body"] for request in hook.requests] == [
        {
            "account": "main",
            "key": "whatsapp",
            "kind": "problem",
            "text": "WhatsApp logged out: scan the QR code",
            "time": "2025-01-02T03:04:05+00:00",
        }
    ]
    assert hook.requests[0]["authorization"] == "Basic " + base64.b64encode(b"alerts:hunter2").decode()


async def test_webhook_retries_server_errors(
    hook: HookServer, webhook: WebhookAlertChannel, log_lines: list[str]
) -> None:
    hook.statuses = [503, 503]
    await webhook.deliver(_alert())
    assert len(hook.requests) == 3
    retries = [line for line in log_lines if line.startswith("WARNING alert: webhook")]
    assert len(retries) == 2
    assert "HTTP 503" in retries[0]
    assert webhook.safe_url in retries[0]


async def test_webhook_gives_up_after_its_attempts(hook: HookServer, webhook: WebhookAlertChannel) -> None:
    hook.statuses = [502, 503, 504, 200]
    with pytest.raises(AlertDeliveryError, match="HTTP 504 after 3 attempts"):
        await webhook.deliver(_alert())
    assert len(hook.requests) == 3


async def test_webhook_does_not_retry_a_client_error(hook: HookServer, webhook: WebhookAlertChannel) -> None:
    hook.statuses = [400]
    with pytest.raises(AlertDeliveryError, match="HTTP 400"):
        await webhook.deliver(_alert())
    assert len(hook.requests) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("trouble", ["server error", "unreachable"])
async def test_webhook_secrets_never_reach_the_log(hook: HookServer, log_lines: list[str], trouble: str) -> None:
    if trouble == "server error":
        hook.statuses = [503, 503, 503]
        port = hook.port
    else:
        port = _closed_port()
    webhook = WebhookAlertChannel(hook.url(port), timeout_s=5, attempts=3, backoff_s=0.01)
    alerts = Alerts([webhook], account="main", settle_s=0)
    alerts.problem("whatsapp", "logged out")
    await alerts.close(timeout_s=10)  # waits for the delivery, its retries and its failure, then closes the webhook

    failures = [line for line in log_lines if line.startswith("ERROR alert: the webhook channel could not deliver")]
    assert len(failures) == 1
    assert f"webhook http://127.0.0.1:{port}: " in failures[0]
    assert sum(line.startswith("WARNING alert: webhook") for line in log_lines) == 2
    leaks = [line for line in log_lines if any(secret in line for secret in SECRETS)]
    assert leaks == []


def test_webhook_rejects_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError):
        WebhookAlertChannel("ftp://example.org/hook")
    with pytest.raises(ValueError):
        WebhookAlertChannel("/hook")
