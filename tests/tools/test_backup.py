"""`backup` and `restore`: the command handlers with the daemon's database swapped for the test database, and
the real command as a process (against a server, in the wire lane)."""

from __future__ import annotations

import gzip
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import EXIT_OK, EXIT_SETTINGS
from bot.settings import Settings
from bot.storage import Database
from bot.storage.backup import raw_database
from bot.tools.common import ToolError
from bot.whatsapp.profile_backup import ProfileBackupError

from ..cli_helpers import run_bot
from .conftest import run_command as run

ANA = "15551234567@c.us"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        account="shop",
        sessions_dir=tmp_path / "sessions",
        mongodb_uri="mongodb://127.0.0.1:9",  # never opened: the handlers get the test database
    )


async def contacts(db: Database) -> list[dict[str, Any]]:
    return [doc async for doc in raw_database(db)["contacts"].find({}).sort("_id", 1)]


async def test_backup_then_restore_with_replace(
    use_db: Database, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await use_db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await use_db.messages.add_inbound(wa_id="w1", contact_id=ANA, text="hi", wa_time=datetime.now(UTC), is_group=False)
    before = await contacts(use_db)
    path = tmp_path / "bot.backup.gz"

    await run(settings, "backup", str(path), "--with-messages")

    out = capsys.readouterr().out
    assert "  contacts: 1 documents" in out and "  messages: 1 documents" in out
    assert f"Wrote 2 documents to {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    await use_db.contacts.seen("15550000000@c.us", phone="15550000000", push_name="Later")
    await run(settings, "restore", str(path), "--replace")

    out = capsys.readouterr().out
    assert "Restored 2 documents" in out and "replaced the collections" in out
    assert "Note:" not in out, "same account and database: nothing to note"
    assert await contacts(use_db) == before


async def test_restore_into_another_account_says_so(
    use_db: Database, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await use_db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    path = tmp_path / "bot.backup.gz"
    await run(settings, "backup", str(path))
    await run(settings.model_copy(update={"account": "other"}), "restore", str(path))
    assert "the backup is of account 'shop'" in capsys.readouterr().out


async def test_a_damaged_file_is_refused_with_its_line(use_db: Database, settings: Settings, tmp_path: Path) -> None:
    await use_db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    path = tmp_path / "bot.backup.gz"
    await run(settings, "backup", str(path))
    with gzip.open(path, "rb") as stream:
        header, *_ = stream.read().splitlines(keepends=True)
    path.write_bytes(gzip.compress(header + b'{"collection": "contacts", "document": {"name": "no id"}}\n'))
    await raw_database(use_db)["contacts"].delete_many({})

    with pytest.raises(ToolError, match="damaged at line 2: the document has no _id; nothing was restored"):
        await run(settings, "restore", str(path))
    assert await contacts(use_db) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup"], "name a FILE"),
        (["restore"], "name the backup FILE"),
        (["restore", "/nonexistent/bot.gz"], "no backup file"),
        (["backup", "/nonexistent/folder/bot.gz"], "does not exist"),
    ],
)
async def test_bad_arguments_are_refused(use_db: Database, settings: Settings, argv: list[str], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await run(settings, *argv)


async def test_the_in_memory_store_is_refused(settings: Settings, tmp_path: Path) -> None:
    memory = settings.model_copy(update={"mongodb_uri": "memory://"})
    with pytest.raises(ToolError, match="memory:// keeps nothing"):
        await run(memory, "backup", str(tmp_path / "bot.gz"))
    assert not (tmp_path / "bot.gz").exists()


@pytest.mark.mongodb
async def test_profile_backup_and_restore_commands(
    use_db: Database, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = settings.profile_dir
    (profile / "Default" / "IndexedDB").mkdir(parents=True)
    (profile / "Default" / "IndexedDB" / "keys").write_bytes(b"session")
    (profile / "Default" / "Cache").mkdir()
    (profile / "Default" / "Cache" / "big").write_bytes(b"x" * 50_000)

    await run(settings, "backup", "--profile")
    assert "It IS the WhatsApp account" in capsys.readouterr().out

    with pytest.raises(ProfileBackupError, match="not empty"):  # the profile is still there
        await run(settings, "restore", "--profile")
    await run(settings, "restore", "--profile", "--replace")

    assert "comes back without a new QR" in capsys.readouterr().out
    assert sorted(p.relative_to(profile).as_posix() for p in profile.rglob("*") if p.is_file()) == [
        "Default/IndexedDB/keys"
    ]


async def test_the_command_refuses_the_in_memory_store(tmp_path: Path) -> None:
    result = await run_bot("backup", "bot.gz", cwd=tmp_path, MONGODB_URI="memory://")
    assert result.code == EXIT_SETTINGS, result
    assert "memory:// keeps nothing" in result.stderr
    assert not (tmp_path / "bot.gz").exists()


@pytest.mark.mongodb
async def test_the_commands_round_trip_as_processes(mongodb_uri: str, tmp_path: Path) -> None:
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = await Database.connect(mongodb_uri, name)
    try:
        await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
        before = await contacts(db)
        env = {"MONGODB_URI": mongodb_uri, "MONGODB_DATABASE": name, "ACCOUNT": "shop"}

        backup = await run_bot("backup", "bot.gz", cwd=tmp_path, **env)
        assert backup.code == EXIT_OK, backup
        await db.drop()
        restore = await run_bot("restore", "bot.gz", cwd=tmp_path, **env)

        assert restore.code == EXIT_OK, restore
        assert "Restored 1 documents" in restore.stdout
        assert await contacts(db) == before
    finally:
        await db.drop()
        await db.close()
