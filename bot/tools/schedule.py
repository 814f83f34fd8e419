"""Operator commands for scheduled messages: `schedule add|list|cancel`.

They only write the `scheduled` collection; the running daemon sends each message once it is due (within
SCHEDULED_POLL_S), exactly once, also across restarts (bot/ops/scheduled_sender.py).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, tzinfo

from bot.context.situation import zone
from bot.settings import Settings
from bot.storage import Database, utc_now
from bot.storage.contacts import chat_id_of, normalize_number
from bot.storage.scheduled import ScheduledMessage
from bot.tools import common
from bot.tools.common import ToolError, format_table
from bot.whatsapp.events import new_message_id

TEXT_PREVIEW_CHARS = 40


def parse_when(text: str, tz: tzinfo, *, now: datetime | None = None) -> datetime:
    """`2026-12-01 09:00` in the operator's time zone, or with an offset (`...09:00+02:00`, `...Z`); in UTC.
    The past is refused: the message would go out at once, which is not what a schedule means."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"--at: expected a date and time like '2026-12-01 09:00', got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    moment = moment.astimezone(UTC)
    if moment <= (now or utc_now()):
        raise ToolError(f"--at: {text} is in the past (it is now {(now or utc_now()).astimezone(tz):%Y-%m-%d %H:%M})")
    return moment


async def add_scheduled(
    db: Database, *, to: str, at: str, text: str, tz: tzinfo, now: datetime | None = None
) -> ScheduledMessage:
    if not text.strip():
        raise ToolError("--text: the message is empty")
    try:
        number = normalize_number(to)
    except ValueError as error:
        raise ToolError(f"--to: {error}") from None
    message = ScheduledMessage(
        to=chat_id_of(number), text=text, at=parse_when(at, tz, now=now), message_id=new_message_id()
    )
    return await db.scheduled.add(message)


async def list_scheduled(db: Database, *, tz: tzinfo, include_done: bool = False) -> str:
    messages = await db.scheduled.list(include_done=include_done)
    if not messages:
        return "No scheduled messages." if include_done else "No scheduled messages waiting (--all shows sent ones)."
    rows = [
        (
            message.id,
            f"+{message.phone}",
            f"{message.at.astimezone(tz):%Y-%m-%d %H:%M}",
            message.status.value,
            _preview(message.text),
            message.error or "",
        )
        for message in messages
    ]
    return format_table(("id", "to", "at", "status", "text", "error"), rows)


async def cancel_scheduled(db: Database, schedule_id: str) -> ScheduledMessage:
    cancelled = await db.scheduled.cancel(schedule_id)
    if cancelled is not None:
        return cancelled
    existing = await db.scheduled.get(schedule_id)
    if existing is None:
        raise ToolError(f"no scheduled message {schedule_id!r} (see `schedule list --all`)")
    raise ToolError(f"scheduled message {schedule_id} is {existing.status.value}: only pending ones can be cancelled")


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_PREVIEW_CHARS else flat[: TEXT_PREVIEW_CHARS - 3] + "..."


async def _add(args: argparse.Namespace, settings: Settings) -> None:
    tz = zone(settings.operator_timezone)
    async with common.open_database(settings) as db:
        message = await add_scheduled(db, to=args.to, at=args.at, text=args.text, tz=tz)
    print(
        f"Scheduled {message.id}: to +{message.phone} at {message.at.astimezone(tz):%Y-%m-%d %H:%M} "
        f"({settings.operator_timezone}). The running bot sends it then."
    )


async def _list(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await list_scheduled(db, tz=zone(settings.operator_timezone), include_done=args.all))


async def _cancel(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        message = await cancel_scheduled(db, args.id)
    print(f"Cancelled {message.id} (to +{message.phone}).")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("schedule", help="messages the bot sends at a given time (add, list, cancel)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    add = actions.add_parser("add", help="send TEXT to a number at a time (OPERATOR_TIMEZONE unless it has an offset)")
    add.add_argument("--to", required=True, help="the number with country code, e.g. +15551234567")
    add.add_argument("--at", required=True, help="'2026-12-01 09:00' (or with an offset: '2026-12-01 09:00+02:00')")
    add.add_argument("--text", required=True, help="the message")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="messages still to be sent, by time")
    listing.add_argument("--all", action="store_true", help="also those sent, cancelled or failed")
    listing.set_defaults(handler=_list)
    cancel = actions.add_parser("cancel", help="cancel a message that is not sent yet")
    cancel.add_argument("id", help="its id, as `schedule list` shows it")
    cancel.set_defaults(handler=_cancel)
