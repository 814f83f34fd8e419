"""The status server of the real daemon: metrics that move as messages flow, readiness that follows the
connection, the login page behind its token, and `status` reading it all."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from loguru import logger
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.app import Application
from bot.cli import build_parser
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from .conftest import (
    ANA,
    READY_TIMEOUT_S,
    REPLY_TIMEOUT_S,
    StartDaemon,
    StateLog,
    has_replies,
    replies_cover,
    wait_until,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)


def url_of(app: Application) -> str:
    assert app.status_server is not None
    return app.status_server.url


async def scrape(http: aiohttp.ClientSession, app: Application) -> Samples:
    async with http.get(f"{url_of(app)}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def readiness(http: aiohttp.ClientSession, app: Application) -> tuple[int, dict[str, object]]:
    async with http.get(f"{url_of(app)}/readyz") as response:
        return response.status, await response.json()


async def test_metrics_move_as_messages_flow(
    sim: SimulatorClient, start_daemon: StartDaemon, daemon_settings: Settings, http: aiohttp.ClientSession
) -> None:
    app = await start_daemon(daemon_settings)
    assert app.whatsapp is not None
    await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
    status, body = await readiness(http, app)
    assert status == 503 and body["checks"]["whatsapp"] == {"state": "needs-login", "ok": False}  # type: ignore[index]

    await sim.link()
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    assert (await readiness(http, app))[0] == 200
    before = await scrape(http, app)
    assert before[("whatsapp_bot_messages_received_total", ())] == 0
    assert before[("whatsapp_bot_connection_state", (("state", "connected"),))] == 1

    async with sim.phone(ANA) as phone:
        await sim.send(ANA, "Do you deliver on Sundays?", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    assert await app.wait_idle(REPLY_TIMEOUT_S)

    after = await scrape(http, app)
    # Sent just as the bot connected, the message may come both live and from the unread chats: stored once.
    assert after[("whatsapp_bot_messages_received_total", ())] in (1, 2)
    assert after[("whatsapp_bot_messages_stored_total", ())] == 1
    assert after[("whatsapp_bot_replies_total", (("outcome", "model"),))] == 1
    assert after[("whatsapp_bot_replies_total", (("outcome", "failed"),))] == 0
    assert after[("whatsapp_bot_detection_latency_seconds_count", ())] == 1
    assert after[("whatsapp_bot_ai_latency_seconds_count", ())] == 1
    assert after[("whatsapp_bot_send_latency_seconds_count", ())] >= 1
    assert after[("whatsapp_bot_queue_depth", (("state", "running"),))] == 0
    assert after[("whatsapp_bot_breaker_state", (("breaker", "ai"),))] == 0
    assert after[("whatsapp_bot_database_up", ())] == 1
    # The daemon's own Chromium: a browser and its helpers, hundreds of megabytes between them.
    assert after[("whatsapp_bot_browser_processes", ())] >= 2
    assert after[("whatsapp_bot_browser_resident_memory_bytes", ())] > 50_000_000
    assert after[("process_resident_memory_bytes", ())] > 0


async def test_readyz_follows_the_connection(
    sim: SimulatorClient, linked: tuple[Application, StateLog], http: aiohttp.ClientSession
) -> None:
    app, log = linked
    assert (await readiness(http, app))[0] == 200
    mark = log.mark()
    await sim.set_state("OFFLINE")
    await log.wait_for(ConnectionState.OFFLINE, after=mark)
    status, body = await readiness(http, app)
    assert status == 503 and body["checks"]["whatsapp"] == {"state": "offline", "ok": False}  # type: ignore[index]
    assert body["checks"]["database"]["ok"] is True  # type: ignore[index]

    await sim.set_state("CONNECTED")
    assert app.whatsapp is not None
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)

    async def ready() -> bool:
        return (await readiness(http, app))[0] == 200

    await wait_until(ready, READY_TIMEOUT_S)


async def test_login_page_behind_the_token_logged_at_start_up(
    sim: SimulatorClient,
    start_daemon: StartDaemon,
    daemon_settings: Settings,
    http: aiohttp.ClientSession,
    logged: list[str],
) -> None:
    app = await start_daemon(daemon_settings)  # no STATUS_TOKEN: the daemon makes one
    assert app.whatsapp is not None and app.status_server is not None
    token = app.status_server.token
    login = f"{url_of(app)}/login"
    [line] = [line for line in logged if token in line]
    assert line.startswith("WARNING") and f"{login}?token={token}" in line

    async with http.get(login) as response:
        assert response.status == 401
    await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)

    async def page() -> str:
        async with http.get(login, params={"token": token}) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            return await response.text()

    async def shows_a_code() -> bool:
        return "<svg" in await page()

    await wait_until(shows_a_code, READY_TIMEOUT_S)
    await sim.link()
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    text = await page()
    assert "<svg" not in text and "The account is linked" in text
    assert [line for line in logged if token in line] == [line]  # never again


async def test_status_command_reads_the_running_daemon(
    sim: SimulatorClient,
    start_daemon: StartDaemon,
    daemon_settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = await start_daemon(daemon_settings.model_copy(update={"status_token": SecretStr("operator-token")}))
    assert app.whatsapp is not None
    await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
    await sim.link()
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    async with sim.phone(ANA) as phone:
        await sim.send(ANA, "Hello there", name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
    assert await app.wait_idle(REPLY_TIMEOUT_S)

    capsys.readouterr()
    args: argparse.Namespace = build_parser().parse_args(["status", "--url", url_of(app)])
    await args.handler(args, app.settings)  # the token from the settings, as STATUS_TOKEN gives it
    printed = capsys.readouterr().out
    rows = {line[:25].rstrip(): line[25:] for line in printed.splitlines() if line}
    assert rows["WhatsApp"] == "connected" and rows["ready to answer"] == "yes" and rows["database"] == "up"
    assert rows["received today"] == "1" and rows["replies today"] == "1"


async def test_the_http_api_is_served_by_the_daemon_and_its_messages_go_out_once(
    sim: SimulatorClient, linked: tuple[Application, StateLog], http: aiohttp.ClientSession
) -> None:
    app, _ = linked
    assert app.status_server is not None and app.db is not None
    auth = {"Authorization": f"Bearer {app.status_server.token}"}
    async with http.get(f"{url_of(app)}/api/v1/openapi.json") as response:
        assert response.status == 401
    async with http.get(f"{url_of(app)}/api/v1/openapi.json", headers=auth) as response:
        assert response.status == 200 and "/api/v1/messages" in (await response.json())["paths"]

    # Only to someone who wrote before.
    body = {"to": f"+{ANA}", "text": "Your order is ready for pick-up."}
    async with http.post(f"{url_of(app)}/api/v1/messages", json=body, headers=auth) as response:
        assert response.status == 403
    await sim.send(ANA, "Is my order ready?", name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)
    async with http.post(f"{url_of(app)}/api/v1/messages", json=body, headers=auth) as response:
        assert response.status == 201, await response.text()
    await wait_until(lambda: has_replies(sim, ANA, 2), REPLY_TIMEOUT_S)
    assert [reply.text for reply in await sim.sent(to=ANA)][1] == "Your order is ready for pick-up."
    # Its echo is known as the bot's own: Ana is not paused as if the operator had taken the chat over.
    await sim.send(ANA, "Great, thanks!", name="Ana")
    await wait_until(lambda: replies_cover(sim, ANA, ["Great, thanks!"]), REPLY_TIMEOUT_S)
    contact = await app.db.contacts.get(f"{ANA}@c.us")
    assert contact is not None and contact.paused_until is None
