"""Operator commands for contacts: `contacts list|show|set|import|export|forget`.

The logic is in functions that take a Database (tests run them against any); the argparse handlers only open the
daemon's database, call them and print.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from bot.settings import Settings
from bot.storage import Contact, Database, utc_now
from bot.storage.contacts import chat_id_of, normalize_number
from bot.storage.models import Relationship
from bot.tools import common
from bot.tools.common import ToolError, format_table
from bot.tools.contact_files import Format, format_of, read_contacts, write_contacts
from bot.tools.personas import known_personas

RELATIONSHIPS = [relationship.value for relationship in Relationship]


@dataclass
class ImportReport:
    """What an import did: `errors` as `FILE:LINE: message`, and how many contacts it created and updated."""

    errors: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    imported: bool = False


class Forgotten(NamedTuple):
    contact: bool
    messages: int
    threads: int


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def number_of(contact: Contact) -> str:
    """How the operator writes the contact: +number for a personal chat, else the chat id (groups, LIDs)."""
    return f"+{contact.phone}" if contact.id == chat_id_of(contact.phone) else contact.id


def reply_state(contact: Contact, now: datetime | None = None) -> str:
    """Whether the bot answers them: blocked, paused, off (the operator answers) or on."""
    if contact.blocked:
        return "blocked"
    if contact.paused_at(now or utc_now()):
        return "paused"
    return "on" if contact.auto_reply else "off"


async def contact_id_for(db: Database, number: str) -> str:
    """The chat id of a stored contact with this number or id, else the chat id the number would have."""
    contact = await db.contacts.find(number)
    if contact is not None:
        return contact.id
    if "@" in number:
        return number.strip()
    try:
        return chat_id_of(normalize_number(number))
    except ValueError as error:
        raise ToolError(str(error)) from None


async def _existing(db: Database, number: str) -> Contact:
    contact = await db.contacts.find(number)
    if contact is None:
        raise ToolError(f"no contact {number} (`contacts list` shows them)")
    return contact


async def list_contacts(db: Database, *, tag: str | None = None, relationship: str | None = None) -> str:
    contacts = await db.contacts.list(tag=tag, relationship=relationship)
    if not contacts:
        return "No contacts."
    now = utc_now()
    rows = [
        (
            number_of(contact),
            contact.display_name,
            contact.relationship.value if contact.relationship else "",
            contact.persona or "(default)",
            ",".join(contact.tags),
            reply_state(contact, now),
            contact.message_count,
            _when(contact.last_message_at),
        )
        for contact in contacts
    ]
    headers = ("number", "name", "relationship", "persona", "tags", "reply", "messages", "last message")
    return format_table(headers, rows)


def describe_contact(contact: Contact, now: datetime | None = None) -> str:
    """Every field of the contact, one per line, as the operator reads it."""
    style = contact.style
    pause = ""
    if contact.paused_at(now or utc_now()):
        pause = f"until {_when(contact.paused_until)} ({contact.pause_reason or 'no reason given'})"
    lines = [
        ("number", number_of(contact)),
        ("chat id", contact.id),
        ("lid", contact.lid),
        ("name", contact.name),
        ("WhatsApp name", contact.push_name),
        ("relationship", contact.relationship.value if contact.relationship else None),
        ("persona", contact.persona or "(default)"),
        ("tags", ", ".join(contact.tags)),
        ("priority", contact.priority),
        ("auto-reply", "on" if contact.auto_reply else "off"),
        ("blocked", "yes" if contact.blocked else "no"),
        ("paused", pause or "no"),
        ("messages", contact.message_count),
        ("last message", _when(contact.last_message_at)),
        (
            "style",
            f"language {style.language or '?'}, ~{style.avg_chars:.0f} chars, {style.emoji_per_message:.1f} emoji "
            f"per message, {style.formality.value if style.formality else 'register unknown'} "
            f"(from {style.samples} messages)"
            if style and style.samples
            else None,
        ),
        ("created", _when(contact.created_at)),
        ("updated", _when(contact.updated_at)),
        ("notes", contact.notes),
        ("instructions", contact.instructions),
    ]
    width = max(len(label) for label, _ in lines)
    out = []
    for label, value in lines:
        text = "" if value is None else str(value)
        # Multi-line notes stay readable: continuation lines are indented under the first.
        text = text.replace("\n", "\n" + " " * (width + 2))
        out.append(f"{label + ':':<{width + 1}} {text}".rstrip())
    return "\n".join(out)


async def show_contact(db: Database, number: str) -> str:
    return describe_contact(await _existing(db, number))


async def set_contact(
    db: Database, number: str, changes: Mapping[str, Any], *, personas_dir: Path | None = None
) -> Contact:
    """Apply the operator's changes (None clears a field); creates the contact if the number is new."""
    if not changes:
        raise ToolError("nothing to change: give at least one option (--name, --persona, ...; see --help)")
    persona = changes.get("persona")
    if persona is not None:
        known = await known_personas(db, personas_dir)
        if persona not in known:
            raise ToolError(f"no persona {persona!r} (known: {', '.join(sorted(known)) or 'none'})")
    contact_id = await contact_id_for(db, number)
    try:
        return await db.contacts.update(contact_id, **changes)
    except (ValidationError, ValueError) as error:
        raise ToolError(f"cannot change {number}: {error}") from None


async def import_contacts(
    db: Database, path: Path, *, partial: bool = False, personas_dir: Path | None = None
) -> ImportReport:
    """Validate every row of the file; import them all, or none when a row is bad (unless `partial`)."""
    try:
        rows = read_contacts(path, personas=await known_personas(db, personas_dir))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ToolError(f"cannot read {path}: {error}") from None
    report = ImportReport(errors=[error.format(path) for error in rows.errors])
    if report.errors and not partial:
        return report
    counts = await db.contacts.import_many(rows.contacts)
    report.created, report.updated, report.imported = counts.created, counts.updated, True
    return report


async def export_contacts(db: Database, fmt: Format) -> str:
    """Every personal contact in the import format (groups are not contacts one can import)."""
    contacts = [contact for contact in await db.contacts.list() if contact.id == chat_id_of(contact.phone)]
    return write_contacts(contacts, fmt)


async def forget_contact(db: Database, number: str) -> Forgotten:
    """Remove everything stored about the contact: messages, threads (with their summaries), the contact."""
    contact = await db.contacts.find(number)
    contact_ids = {await contact_id_for(db, number)}
    if contact is not None and contact.lid:
        contact_ids.add(contact.lid)
    messages = threads = 0
    for contact_id in sorted(contact_ids):
        messages += await db.messages.forget(contact_id)
        threads += await db.threads.forget(contact_id)
    removed = contact is not None and await db.contacts.remove(contact.id)
    if not (removed or messages or threads):
        raise ToolError(f"nothing is stored about {number}")
    return Forgotten(contact=removed, messages=messages, threads=threads)


async def load_demo_contacts(db: Database, path: Path) -> int:
    """Import the demo's sample contacts that do not exist yet (a restarted demo keeps the operator's edits);
    returns how many were added. The file ships with the project: an invalid one is a bug, reported as such."""
    rows = read_contacts(path)
    if rows.errors:
        raise ToolError("; ".join(error.format(path) for error in rows.errors))
    new = [contact for contact in rows.contacts if await db.contacts.get(contact.id) is None]
    counts = await db.contacts.import_many(new)
    return counts.created


def _on_off(value: str) -> bool:
    if value.lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError("expected on or off")
    return value.lower() == "on"


def _relationship(value: str) -> str:
    """A relationship, or "" (which clears it)."""
    if value and value.lower() not in RELATIONSHIPS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(RELATIONSHIPS)}")
    return value.lower()


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The options given; an empty text clears the field."""
    changes: dict[str, Any] = {}
    for name in ("name", "notes", "instructions", "persona"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value.strip() or None
    if args.relationship is not None:
        changes["relationship"] = args.relationship or None
    if args.tags is not None:
        changes["tags"] = list(dict.fromkeys(tag.strip() for tag in args.tags.split(",") if tag.strip()))
    for name in ("priority", "auto_reply", "blocked"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    return changes


async def _list(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await list_contacts(db, tag=args.tag, relationship=args.relationship))


async def _show(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await show_contact(db, args.number))


async def _set(args: argparse.Namespace, settings: Settings) -> None:
    changes = _changes(args)
    async with common.open_database(settings) as db:
        contact = await set_contact(db, args.number, changes, personas_dir=settings.personas_dir)
        print(describe_contact(contact))


async def _import(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        report = await import_contacts(db, args.file, partial=args.partial, personas_dir=settings.personas_dir)
    for error in report.errors:
        print(error, file=sys.stderr)
    if not report.imported:
        raise ToolError(f"{len(report.errors)} row(s) with errors: nothing imported (--partial imports the valid rows)")
    skipped = f", {len(report.errors)} row(s) skipped" if report.errors else ""
    print(f"Imported {args.file}: {report.created} created, {report.updated} updated{skipped}.")


async def _export(args: argparse.Namespace, settings: Settings) -> None:
    fmt: Format
    if args.format is not None:
        fmt = args.format
    elif args.file is not None:
        try:
            fmt = format_of(args.file)
        except ValueError as error:
            raise ToolError(f"{error}, or choose --format") from None
    else:
        fmt = "csv"
    async with common.open_database(settings) as db:
        text = await export_contacts(db, fmt)
    if args.file is None:
        sys.stdout.write(text)
        return
    args.file.write_text(text, encoding="utf-8")
    print(f"Exported the contacts to {args.file}.")


async def _forget(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        if not args.yes:
            await _confirm_forget(db, args.number)
        forgotten = await forget_contact(db, args.number)
    print(
        f"Forgot {args.number}: {'the contact' if forgotten.contact else 'no contact record'}, "
        f"{forgotten.messages} message(s), {forgotten.threads} thread(s) with their summaries."
    )


async def _confirm_forget(db: Database, number: str) -> None:
    if not sys.stdin.isatty():
        raise ToolError(f"forget removes everything stored about {number}: confirm with --yes")
    contact = await db.contacts.find(number)
    who = f"{contact.display_name} ({number_of(contact)})" if contact else number
    answer = await asyncio.to_thread(
        input, f"Remove every message, thread and note about {who}? This cannot be undone. [y/N] "
    )
    if answer.strip().lower() not in ("y", "yes"):
        raise ToolError("not confirmed: nothing removed")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("contacts", help="who writes to you, and what the bot knows about them")
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")

    listing = actions.add_parser("list", help="every contact, one per line")
    listing.add_argument("--tag", help="only contacts with this tag")
    listing.add_argument("--relationship", choices=RELATIONSHIPS, help="only contacts of this relationship")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="everything stored about one contact")
    show.add_argument("number", help="the contact's number with country code (+15551234567) or chat id")
    show.set_defaults(handler=_show)

    edit = actions.add_parser(
        "set", help="change a contact (a new number is created); an empty value clears a text field"
    )
    edit.add_argument("number", help="the contact's number with country code (+15551234567) or chat id")
    edit.add_argument("--name", help="what you call them (shown to the model instead of their WhatsApp name)")
    edit.add_argument("--relationship", type=_relationship, help=f"who they are to you: {', '.join(RELATIONSHIPS)}")
    edit.add_argument("--persona", help="the persona that answers them (`personas list`); empty: the default")
    edit.add_argument("--notes", help="your notes about them (replaces them)")
    edit.add_argument("--instructions", help="how to answer them (tone, language, topics); these win")
    edit.add_argument("--tags", help="comma-separated tags (replace the current ones)")
    edit.add_argument("--priority", type=int, help="who is answered first when many wait: higher first")
    edit.add_argument("--auto-reply", type=_on_off, metavar="on|off", help="off: you answer them yourself")
    edit.add_argument("--blocked", type=_on_off, metavar="on|off", help="on: the bot never answers them")
    edit.set_defaults(handler=_set)

    importing = actions.add_parser(
        "import",
        help="create or update contacts from a .csv or .yaml file (the export format); every row is checked "
        "and nothing is imported if one is wrong",
    )
    importing.add_argument("file", type=Path, help="a .csv, .yaml or .yml file")
    importing.add_argument("--partial", action="store_true", help="import the valid rows even if some are wrong")
    importing.set_defaults(handler=_import)

    export = actions.add_parser("export", help="write every contact in the import format")
    export.add_argument("file", type=Path, nargs="?", help="the file to write (default: standard output)")
    export.add_argument("--format", choices=("csv", "yaml"), help="default: from the file's extension, else csv")
    export.set_defaults(handler=_export)

    forget = actions.add_parser(
        "forget", help="remove everything stored about a contact (messages, threads, summaries, the contact)"
    )
    forget.add_argument("number", help="the contact's number with country code (+15551234567) or chat id")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(handler=_forget)
