"""Operator commands for personas: `personas list` and `personas show NAME`.

The daemon stores the persona files (PERSONAS_DIR) at start-up; files it has not stored yet are shown too, so the
commands work before the first start.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bot.settings import Settings
from bot.storage import Database, Persona
from bot.storage.personas import read_persona_file
from bot.tools import common
from bot.tools.common import ToolError, format_table

NOT_LOADED = "(not loaded yet) "


async def all_personas(db: Database, folder: Path | None = None) -> list[Persona]:
    """The stored personas, then the folder's files that are not stored yet, by id."""
    personas = {persona.id: persona for persona in await db.personas.list()}
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            if path.stem not in personas:
                personas[path.stem] = read_persona_file(path)
    return [personas[name] for name in sorted(personas)]


async def known_personas(db: Database, folder: Path | None = None) -> set[str]:
    """The persona names a contact may be given: stored ones, and the folder's files the daemon will store."""
    names = {persona.id for persona in await db.personas.list()}
    if folder is not None and folder.is_dir():
        names.update(path.stem for path in folder.glob("*.toml"))
    return names


async def list_personas(db: Database, folder: Path | None = None) -> str:
    stored = {persona.id for persona in await db.personas.list()}
    personas = await all_personas(db, folder)
    if not personas:
        return f"No personas (the bot uses its built-in one); add TOML files to {folder or 'PERSONAS_DIR'}."
    rows = [
        (
            persona.id,
            persona.name,
            persona.role,
            ("" if persona.id in stored else NOT_LOADED) + (persona.source or "made by a tool"),
        )
        for persona in personas
    ]
    return format_table(("id", "name", "role", "source"), rows)


async def show_persona(db: Database, name: str, folder: Path | None = None) -> str:
    """Every field of the persona, as readable text (YAML)."""
    for persona in await all_personas(db, folder):
        if persona.id == name:
            data = persona.model_dump(mode="json", exclude_none=True)
            return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)).rstrip()
    known = ", ".join(persona.id for persona in await all_personas(db, folder)) or "none"
    raise ToolError(f"no persona {name!r} (known: {known})")


async def _list(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await list_personas(db, settings.personas_dir))


async def _show(args: argparse.Namespace, settings: Settings) -> None:
    async with common.open_database(settings) as db:
        print(await show_persona(db, args.name, settings.personas_dir))


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("personas", help="the personas the bot speaks as (files in PERSONAS_DIR)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    actions.add_parser("list", help="every persona: id, name, role, source file").set_defaults(handler=_list)
    show = actions.add_parser("show", help="every field of one persona")
    show.add_argument("name", help="the persona's id (its file name without .toml)")
    show.set_defaults(handler=_show)
