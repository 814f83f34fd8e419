"""Personas from TOML files: the shipped ones load, a sync follows the folder, a bad file stops the start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import EXIT_SETTINGS
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Database, Persona
from bot.storage.personas import (
    BUILTIN_PERSONA,
    PERSONA_CACHE_S,
    PersonaFileError,
    PersonaRepository,
    read_persona_file,
)

SHIPPED = PROJECT_ROOT / "config" / "personas"
MINIMAL = 'name = "Kim"\nrole = "support at Kim\'s Cafe"\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_personas_are_complete() -> None:
    assistant = read_persona_file(SHIPPED / "assistant.toml")
    assert assistant.id == "assistant" and "Maria" in assistant.role
    assert {"urgent", "emergency", "call me"} <= set(assistant.instructions.escalation_keywords)
    support = read_persona_file(SHIPPED / "support.toml")
    assert support.organisation is not None and support.organisation.hours and support.organisation.contact
    assert support.organisation.services
    assert {"refund", "complaint", "speak to a human"} <= set(support.instructions.escalation_keywords)
    assert support.source == str((SHIPPED / "support.toml").resolve())
    # The default persona of the settings is one of them.
    assert (SHIPPED / f"{Settings.model_fields['persona'].default}.toml").is_file()


def test_every_field_of_a_file_maps_onto_the_persona(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shop",
        MINIMAL
        + 'personality = "cheerful"\nstyle = "short"\ngreeting = "Hello!"\n'
        + '[organisation]\nname = "Kim\'s Cafe"\ndescription = "coffee"\nservices = ["coffee", "cake"]\n'
        + 'hours = "8-16"\ncontact = "kim@example.com"\n'
        + '[instructions]\ntone = "warm"\nmax_chars = 300\nlanguage = "en"\ntopics = ["menu"]\navoid = ["politics"]\n'
        + 'escalation_keywords = ["refund"]\nescalation_reply = "A person will answer."\n'
        + 'media_reply = "Cannot open that."\nextra = "Be nice."\n',
    )
    persona = read_persona_file(path)
    assert (persona.id, persona.name, persona.personality, persona.style, persona.greeting) == (
        "shop",
        "Kim",
        "cheerful",
        "short",
        "Hello!",
    )
    assert persona.organisation is not None and persona.organisation.services == ["coffee", "cake"]
    assert persona.instructions.max_chars == 300 and persona.instructions.avoid == ["politics"]
    assert persona.instructions.escalation_reply == "A person will answer."
    assert persona.instructions.extra == "Be nice."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "Kim"\nrole = ', "not valid TOML"),
        (MINIMAL + 'mood = "happy"\n', "unknown field 'mood'"),
        (MINIMAL + '[instructions]\nmax_chars = "long"\n', "field instructions.max_chars"),
        (MINIMAL + "[instructions]\nmax_chars = 5\n", "field instructions.max_chars"),
        (MINIMAL + '[instructions]\nescalation_keywords = "refund"\n', "field instructions.escalation_keywords"),
        (MINIMAL + '[organisation]\nname = "x"\nphone = "1"\n', "field organisation.phone: unknown field"),
        ('name = "Kim"\n', "field role"),
        ("name = 5\n" + 'role = "r"\n', "field name"),
    ],
)
def test_an_invalid_file_names_the_file_and_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "broken", text)
    with pytest.raises(PersonaFileError, match="broken.toml") as caught:
        read_persona_file(path)
    assert expected in str(caught.value)
    assert caught.value.exit_code == EXIT_SETTINGS


async def test_sync_stores_the_files_and_removes_those_gone(db: Database, tmp_path: Path) -> None:
    for name in ("assistant", "support"):
        shutil.copy(SHIPPED / f"{name}.toml", tmp_path / f"{name}.toml")
    made_by_tool = Persona(id="manual", name="M", role="made by a tool")
    await db.personas.save(made_by_tool)
    first = await db.personas.sync_directory(tmp_path)
    assert (first.loaded, first.removed) == (["assistant", "support"], [])
    assert [persona.id for persona in await db.personas.list()] == ["assistant", "manual", "support"]

    (tmp_path / "support.toml").unlink()
    write(tmp_path, "assistant", MINIMAL)  # edited: the new content replaces the stored one
    second = await db.personas.sync_directory(tmp_path)
    assert (second.loaded, second.removed) == (["assistant"], ["support"])
    assert await db.personas.get("support") is None
    assistant = await db.personas.get("assistant")
    assert assistant is not None and assistant.name == "Kim"
    kept = await db.personas.get("manual")
    assert kept is not None and kept.source is None and kept.role == "made by a tool"


async def test_a_bad_file_stops_the_sync_before_anything_changes(db: Database, tmp_path: Path) -> None:
    write(tmp_path, "good", MINIMAL)
    write(tmp_path, "bad", MINIMAL + "[instructions]\nmax_chars = true\n")
    with pytest.raises(PersonaFileError, match="bad.toml.*instructions.max_chars"):
        await db.personas.sync_directory(tmp_path)
    assert await db.personas.list() == []


async def test_a_missing_folder_loads_nothing_and_the_builtin_answers(db: Database, tmp_path: Path) -> None:
    sync = await db.personas.sync_directory(tmp_path / "absent")
    assert (sync.loaded, sync.removed) == ([], [])
    assert await db.personas.get_or_builtin("assistant") == BUILTIN_PERSONA


async def test_a_reply_reads_a_cached_persona_that_saves_here_refresh_and_time_expires(db: Database) -> None:
    now = [1000.0]
    personas = PersonaRepository(db.raw["personas"], clock=lambda: now[0])
    await personas.save(Persona(id="kim", name="Kim", role="support"))
    assert (await personas.for_reply("kim")).name == "Kim"

    # Another process (the CLI) edits it: not seen until the cached copy is PERSONA_CACHE_S old.
    await db.raw["personas"].update_one({"_id": "kim"}, {"$set": {"name": "Kimberly"}})
    now[0] += PERSONA_CACHE_S - 1
    assert (await personas.for_reply("kim")).name == "Kim"
    now[0] += 1
    assert (await personas.for_reply("kim")).name == "Kimberly"

    # A save through this repository (the API) counts at once.
    await personas.save(Persona(id="kim", name="Kim again", role="support"))
    assert (await personas.for_reply("kim")).name == "Kim again"
    assert await personas.for_reply("nobody") == BUILTIN_PERSONA
