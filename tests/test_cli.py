"""`run_bot.py` as the operator meets it: help, and refusing to start with one line saying what to fix."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.errors import EXIT_ENVIRONMENT, EXIT_NEEDS_OPERATOR, EXIT_UNAVAILABLE
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

from .cli_helpers import free_port, run_bot
from .local_server import serve

FAKE_PASSWORD = "not-a-real-password"  # must never appear in what the bot prints


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    code, stdout, _ = await run_bot("--help", cwd=tmp_path)
    assert code == 0
    assert re.findall(r"^    ([\w-]+)(?: |$)", stdout, re.MULTILINE) == [
        "run",
        "demo",
        "login",
        "contacts",
        "personas",
        "kb",
        "schedule",
        "backup",
        "restore",
        "status",
        "doctor",
        "install-service",
    ], stdout


def last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    return lines[-1]


async def test_run_refuses_without_mongodb(tmp_path: Path) -> None:
    code, _, stderr = await run_bot("run", cwd=tmp_path, GEMINI_API_KEY="k")
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr).startswith("error: MONGODB_URI is not set")


async def test_run_refuses_an_unreachable_mongodb_without_showing_its_password(tmp_path: Path) -> None:
    code, _, stderr = await run_bot(
        "run",
        cwd=tmp_path,
        GEMINI_API_KEY="k",
        MONGODB_URI="mongodb://bot:" + FAKE_PASSWORD + "@127.0.0.1:9/?directConnection=true",
        MONGODB_TIMEOUT_S="1",
    )
    assert code == EXIT_UNAVAILABLE
    assert last_line(stderr).startswith("error: MongoDB is unreachable at the configured MONGODB_URI")
    assert FAKE_PASSWORD not in stderr


async def test_run_refuses_without_a_gemini_key(tmp_path: Path) -> None:
    code, _, stderr = await run_bot("run", cwd=tmp_path, MONGODB_URI="memory://")
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr).startswith("error: GEMINI_API_KEY is not set")


async def test_run_refuses_when_gemini_rejects_the_key(
    tmp_path: Path, simulator: Simulator, sim: SimulatorClient
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=400)
    code, _, stderr = await run_bot(
        "run",
        cwd=tmp_path,
        MONGODB_URI="memory://",
        GEMINI_API_KEY="not-a-valid-key",
        GEMINI_BASE_URL=simulator.gemini_base_url,
        WHATSAPP_URL=simulator.base_url,
    )
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr).startswith("error: Gemini refused the API key or the model 'gemini-2.5-flash'")
    assert (await sim.status())["pages"] == []  # refused before opening a browser


@pytest.fixture
async def not_whatsapp() -> AsyncIterator[str]:
    """A site that answers, but is not WhatsApp Web (a captive portal, a wrong WHATSAPP_URL)."""

    async def portal(_: web.Request) -> web.Response:
        return web.Response(text="<h1>Welcome to the hotel Wi-Fi</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", portal)
    async with serve(app) as base_url:
        yield base_url


def daemon_env(simulator: Simulator, **settings: str) -> dict[str, str]:
    """A `run` that would work against the simulator, but for what the test breaks."""
    return {
        "MONGODB_URI": "memory://",
        "GEMINI_API_KEY": "k",
        "GEMINI_BASE_URL": simulator.gemini_base_url,
        "WHATSAPP_URL": simulator.base_url,
        "WHATSAPP_RETRY_INITIAL_S": "0.1",
        "WHATSAPP_RETRY_MAX_S": "0.5",
        "WHATSAPP_START_ATTEMPTS": "2",
        **settings,
    }


async def test_a_missing_browser_is_one_line(tmp_path: Path, simulator: Simulator) -> None:
    code, _, stderr = await run_bot(
        "run", cwd=tmp_path, **daemon_env(simulator, BROWSER_EXECUTABLE=str(tmp_path / "no-chromium"))
    )
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr) == f"error: BROWSER_EXECUTABLE {tmp_path / 'no-chromium'} does not exist or is not a file"


async def test_a_browser_that_is_not_executable_is_one_line(tmp_path: Path, simulator: Simulator) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o644)
    code, _, stderr = await run_bot("run", cwd=tmp_path, **daemon_env(simulator, BROWSER_EXECUTABLE=str(fake)))
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr) == f"error: BROWSER_EXECUTABLE {fake} is not executable by this user"


async def test_a_sessions_folder_that_cannot_be_made_is_one_line(tmp_path: Path, simulator: Simulator) -> None:
    (tmp_path / "file").write_text("")
    sessions = tmp_path / "file" / "sessions"
    code, _, stderr = await run_bot("run", cwd=tmp_path, **daemon_env(simulator, SESSIONS_DIR=str(sessions)))
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr) == f"error: SESSIONS_DIR {sessions} cannot be created: Not a directory"


async def test_missing_wa_js_is_one_line(tmp_path: Path, simulator: Simulator) -> None:
    missing = tmp_path / "wa.js"
    code, _, stderr = await run_bot("run", cwd=tmp_path, **daemon_env(simulator, WA_JS_PATH=str(missing)))
    assert code == EXIT_ENVIRONMENT
    assert last_line(stderr) == f"error: wa-js is missing at {missing} (WA_JS_PATH): run `npm ci` in the project"


async def test_an_unreachable_whatsapp_url_is_retried_then_one_line(tmp_path: Path, simulator: Simulator) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    code, _, stderr = await run_bot("run", cwd=tmp_path, **daemon_env(simulator, WHATSAPP_URL=url))
    assert code == EXIT_UNAVAILABLE
    assert re.fullmatch(
        rf"error: cannot open WHATSAPP_URL {re.escape(url)}: .*ERR_CONNECTION_REFUSED.* "
        r"\(gave up after 2 attempts; WHATSAPP_START_ATTEMPTS=2\)",
        last_line(stderr),
    ), last_line(stderr)
    # Each failed attempt before that was announced with its backoff.
    assert re.search(r"WARNING .*trying again in \d+\.\d s \(attempt 1\)", stderr), stderr


async def test_a_page_that_never_becomes_whatsapp_is_retried_then_one_line(
    tmp_path: Path, simulator: Simulator, not_whatsapp: str
) -> None:
    code, _, stderr = await run_bot(
        "run",
        cwd=tmp_path,
        **daemon_env(
            simulator, WHATSAPP_URL=not_whatsapp, WHATSAPP_READY_TIMEOUT_S="1", WHATSAPP_PROBE_INTERVAL_S="0.5"
        ),
    )
    assert code == EXIT_UNAVAILABLE
    assert last_line(stderr).startswith(
        "error: WhatsApp Web did not become ready within WHATSAPP_READY_TIMEOUT_S=1 s, even after a reload"
    ), last_line(stderr)


async def test_nobody_linking_ends_with_status_4(tmp_path: Path, simulator: Simulator, sim: SimulatorClient) -> None:
    bot = asyncio.create_task(
        run_bot("run", cwd=tmp_path, **daemon_env(simulator, LOGIN_MAX_QR_ROUNDS="1", LOGIN_QR_TEXT="false"))
    )
    async with sim.phone("15551234567") as phone:
        await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, 30)
    await sim.qr_idle()  # WhatsApp stopped rotating the code and nobody scanned it
    code, _, stderr = await bot
    assert code == EXIT_NEEDS_OPERATOR
    assert last_line(stderr).startswith("error: nobody linked the phone: the QR code expired 1 times"), stderr
    assert not (tmp_path / "sessions" / "default.qr.png").exists()
