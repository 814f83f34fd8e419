"""`schedule add|list|cancel`: times in the operator's zone or with an offset, bad input refused with one line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.cli import build_parser
from bot.settings import Settings
from bot.storage import Database
from bot.storage.scheduled import ScheduledStatus
from bot.tools.common import ToolError
from bot.tools.schedule import add_scheduled, cancel_scheduled, list_scheduled, parse_when

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_times_are_the_operators_unless_they_carry_an_offset() -> None:
    assert parse_when("2026-12-01 09:00", MADRID, now=NOW) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T09:00+02:00", MADRID, now=NOW) == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert parse_when("2026-12-01 09:00Z", MADRID, now=NOW) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22 12:30", "is in the past"),  # 11:30 UTC in Madrid
        ("2020-01-01 09:00", "is in the past"),
        ("tomorrow at nine", "expected a date and time like"),
        ("2026-13-01 09:00", "expected a date and time like"),
    ],
)
def test_past_and_unreadable_times_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ToolError, match=expected):
        parse_when(text, MADRID, now=NOW)


async def test_add_list_and_cancel(db: Database) -> None:
    first = await add_scheduled(
        db, to="+1 (555) 123-4567", at="2026-12-01 09:00", text="Your table is booked", tz=MADRID, now=NOW
    )
    assert first.to == "15551234567@c.us" and first.message_id.startswith("3EB0")
    second = await add_scheduled(db, to="447700900123", at="2026-11-30 18:00", text="x" * 100, tz=MADRID, now=NOW)

    lines = (await list_scheduled(db, tz=MADRID)).splitlines()
    assert lines[0].split() == ["id", "to", "at", "status", "text", "error"]
    assert lines[1].startswith(f"{second.id}  +447700900123  2026-11-30 18:00  pending  {'x' * 37}...")
    assert lines[2].startswith(f"{first.id}  +15551234567   2026-12-01 09:00  pending  Your table is booked")

    cancelled = await cancel_scheduled(db, first.id)
    assert cancelled.status is ScheduledStatus.CANCELLED
    assert first.id not in await list_scheduled(db, tz=MADRID)
    assert "cancelled" in await list_scheduled(db, tz=MADRID, include_done=True)
    with pytest.raises(ToolError, match="is cancelled: only pending ones can be cancelled"):
        await cancel_scheduled(db, first.id)
    with pytest.raises(ToolError, match="no scheduled message 'nope'"):
        await cancel_scheduled(db, "nope")


async def test_nothing_to_list(db: Database) -> None:
    assert "No scheduled messages waiting" in await list_scheduled(db, tz=MADRID)


@pytest.mark.parametrize(
    ("to", "text", "expected"),
    [("555-CALL-NOW", "hi", "--to: expected a phone number"), ("+15551234567", "   ", "--text: the message is empty")],
)
async def test_bad_input_stores_nothing(db: Database, to: str, text: str, expected: str) -> None:
    with pytest.raises(ToolError, match=expected):
        await add_scheduled(db, to=to, at="2026-12-01 09:00", text=text, tz=MADRID, now=NOW)
    assert await db.scheduled.list(include_done=True) == []


async def test_handlers(use_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    db = use_db
    settings = Settings(_env_file=None, mongodb_uri="mongodb://127.0.0.1:9", operator_timezone="Europe/Madrid")  # type: ignore[call-arg]

    async def run(*argv: str) -> str:
        args: argparse.Namespace = build_parser().parse_args(list(argv))
        await args.handler(args, settings)
        return capsys.readouterr().out

    added = await run("schedule", "add", "--to", "+15551234567", "--at", "2099-12-01 09:00", "--text", "hello")
    assert "to +15551234567 at 2099-12-01 09:00 (Europe/Madrid)" in added
    [message] = await db.scheduled.list()
    assert message.id in await run("schedule", "list")
    assert f"Cancelled {message.id}" in await run("schedule", "cancel", message.id)
    assert "cancelled" in await run("schedule", "list", "--all")
