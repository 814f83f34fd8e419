"""`personas list|show`: stored personas, and the files the daemon will store."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Database, Persona
from bot.tools.common import ToolError
from bot.tools.personas import known_personas, list_personas, show_persona

PERSONAS_DIR = PROJECT_ROOT / "config" / "personas"


async def test_list_shows_stored_personas_and_files_not_loaded_yet(db: Database, tmp_path: Path) -> None:
    assert "No personas" in await list_personas(db, tmp_path)
    await db.personas.sync_directory(PERSONAS_DIR)
    await db.personas.save(Persona(id="manual", name="M", role="made by hand"))
    (tmp_path / "new.toml").write_text('name = "N"\nrole = "brand new"\n', encoding="utf-8")
    lines = (await list_personas(db, tmp_path)).splitlines()
    assert lines[0].split() == ["id", "name", "role", "source"]
    assert [line.split()[0] for line in lines[1:]] == ["assistant", "manual", "new", "support"]
    assert lines[1].endswith(str((PERSONAS_DIR / "assistant.toml").resolve()))
    assert lines[2].endswith("made by a tool")
    assert "(not loaded yet) " in lines[3]
    assert await known_personas(db, tmp_path) == {"assistant", "manual", "new", "support"}


async def test_show_every_field_and_unknown_names(db: Database) -> None:
    await db.personas.sync_directory(PERSONAS_DIR)
    shown = yaml.safe_load(await show_persona(db, "support"))
    assert shown["name"] == "Alex" and shown["organisation"]["name"] == "Acme Bikes"
    assert "refund" in shown["instructions"]["escalation_keywords"]
    with pytest.raises(ToolError, match="no persona 'pirate' \\(known: assistant, support\\)"):
        await show_persona(db, "pirate")


@pytest.mark.usefixtures("use_db")
async def test_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, mongodb_uri="mongodb://127.0.0.1:9", personas_dir=PERSONAS_DIR)  # type: ignore[call-arg]
    for argv, expected in ((["personas", "list"], "support"), (["personas", "show", "assistant"], "name: Sam")):
        args: argparse.Namespace = build_parser().parse_args(argv)
        await args.handler(args, settings)
        assert expected in capsys.readouterr().out
