"""Operator command: `status`, the state of a running daemon, asked of its status server (GET /status)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

import aiohttp

from bot.errors import Unavailable
from bot.ops.status_server import HOST
from bot.settings import Settings
from bot.tools.common import ToolError, format_table

TIMEOUT_S = 10.0
# The report's facts in the order an operator reads them, with their labels.
ROWS = (
    ("connection", "WhatsApp"),
    ("ready", "ready to answer"),
    ("database", "database"),
    ("waiting", "contacts waiting"),
    ("answering", "contacts being answered"),
    ("ai_breaker", "AI breaker"),
    ("send_breaker", "send breaker"),
    ("received_today", "received today"),
    ("replies_today", "replies today"),
)


async def fetch_status(url: str, token: str | None, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The daemon's /status JSON. Unavailable (exit 5) when nothing answers; ToolError when the token is refused."""
    address = f"{url.rstrip('/')}/status"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(address, headers=headers) as response,
        ):
            if response.status == 401:
                raise ToolError(
                    "the daemon refused the token: pass --token or set STATUS_TOKEN (a daemon without STATUS_TOKEN "
                    "logs the token it made at start-up)"
                )
            if response.status != 200:
                raise Unavailable(f"the daemon at {url} answered HTTP {response.status} to /status")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as error:
        why = "no answer in time" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
        raise Unavailable(
            f"no bot answers at {url} ({why}): is the daemon running, with STATUS_ENABLED and this port "
            "(STATUS_PORT, or --url)?"
        ) from None
    except json.JSONDecodeError:
        raise Unavailable(f"{url} is not the bot's status server (its /status is not JSON)") from None
    if not isinstance(body, dict):
        raise Unavailable(f"{url} is not the bot's status server (unexpected /status answer)")
    return body


def format_status(status: dict[str, Any]) -> str:
    """A readable table of the report; the paused contacts, if any, as a second table."""
    rows = [(label, _cell(status[key])) for key, label in ROWS if key in status]
    width = max(len(label) for label, _ in rows) if rows else 0
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    paused = status.get("paused") or []
    if paused:
        table = format_table(
            ("paused contact", "number", "until", "why"),
            [
                (item.get("name"), f"+{item.get('phone')}", _until(item.get("until")), item.get("reason"))
                for item in paused
            ],
        )
        lines += ["", table]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "unknown (the database did not answer)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _until(value: str | None) -> str:
    if value is None:
        return "until /resume"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return value


async def _status(args: argparse.Namespace, settings: Settings) -> None:
    url = args.url
    if url is None:
        if settings.status_port == 0:
            raise ToolError("STATUS_PORT=0 makes the daemon pick a port each start: pass --url (it is in the log)")
        url = f"http://{HOST}:{settings.status_port}"
    token = args.token or (settings.status_token.get_secret_value() if settings.status_token else None)
    print(format_status(await fetch_status(url, token)), flush=True)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "status", help="the state of the running daemon: connection, queue, breakers, paused contacts, today's count"
    )
    parser.add_argument("--url", help="the daemon's status server (default: http://127.0.0.1:STATUS_PORT)")
    parser.add_argument("--token", help="the status token (default: STATUS_TOKEN)")
    parser.set_defaults(handler=_status)
