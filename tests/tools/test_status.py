"""`run_bot.py status`: the running daemon's report as a table, through its status server."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.cli import build_parser
from bot.errors import EXIT_UNAVAILABLE, Unavailable
from bot.settings import Settings
from bot.tools.common import ToolError
from bot.tools.status import fetch_status, format_status

from ..cli_helpers import free_port, run_bot

TOKEN = "status-test-token"
REPORT = {
    "connection": "connected",
    "waiting": 2,
    "answering": 1,
    "paused": [
        {"name": "Ana", "phone": "15551234567", "until": None, "reason": "escalated"},
        {"name": "Ben", "phone": "15551230002", "until": "2026-12-01T09:30:00Z", "reason": "paused by the operator"},
    ],
    "ai_breaker": "closed",
    "send_breaker": "open",
    "received_today": None,
    "replies_today": 4,
    "database": "up",
    "ready": True,
}


@pytest.fixture
async def daemon_url() -> AsyncIterator[str]:
    """A stand-in for a daemon's status server: /status behind the token, and a broken /status at /broken."""

    async def status(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized()
        return web.json_response(REPORT)

    app = web.Application()

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="<html>")

    app.add_routes([web.get("/status", status), web.get("/broken/status", broken)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_the_report_reads_as_a_table() -> None:
    table = format_status(REPORT)
    lines = table.splitlines()
    assert lines[0].split() == ["WhatsApp", "connected"]
    # Values in one column, after the longest label ("contacts being answered") and two spaces.
    rows = {line[:25].rstrip(): line[25:] for line in lines[: lines.index("")]}
    assert rows["ready to answer"] == "yes" and rows["send breaker"] == "open"
    assert rows["received today"] == "unknown (the database did not answer)"
    assert lines[lines.index("") + 1].split() == ["paused", "contact", "number", "until", "why"]
    assert "+15551234567  until /resume" in table
    assert "2026-12-01 09:30 UTC" in table


def test_nobody_paused_no_second_table() -> None:
    assert "paused contact" not in format_status({**REPORT, "paused": []})


async def test_fetch_with_the_token(daemon_url: str) -> None:
    assert await fetch_status(daemon_url, TOKEN) == REPORT


async def test_a_refused_token_says_how_to_get_it(daemon_url: str) -> None:
    for token in (None, "wrong"):
        with pytest.raises(ToolError, match="--token or set STATUS_TOKEN"):
            await fetch_status(daemon_url, token)


async def test_something_else_on_the_port_is_named(daemon_url: str) -> None:
    with pytest.raises(Unavailable, match="not the bot's status server"):
        await fetch_status(f"{daemon_url}/broken", TOKEN)


async def test_no_daemon_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no bot answers") as raised:
        await fetch_status(f"http://127.0.0.1:{free_port()}", TOKEN)
    assert raised.value.exit_code == EXIT_UNAVAILABLE


async def test_the_command_prints_the_table(daemon_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, status_token=TOKEN)  # type: ignore[call-arg]
    args: argparse.Namespace = build_parser().parse_args(["status", "--url", daemon_url])
    await args.handler(args, settings)
    assert capsys.readouterr().out == format_status(REPORT) + "\n"


async def test_port_zero_needs_the_url() -> None:
    settings = Settings(_env_file=None, status_port=0)  # type: ignore[call-arg]
    args: argparse.Namespace = build_parser().parse_args(["status"])
    with pytest.raises(ToolError, match="--url"):
        await args.handler(args, settings)


async def test_the_real_command_exits_5_when_no_daemon_answers(tmp_path: Path) -> None:
    port = free_port()
    code, stdout, stderr = await run_bot("status", cwd=tmp_path, STATUS_PORT=str(port))
    assert code == EXIT_UNAVAILABLE, stderr
    assert stdout == ""
    assert f"no bot answers at http://127.0.0.1:{port}" in stderr and "Traceback" not in stderr
