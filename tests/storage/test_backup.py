"""Backups of the collections: the round trip keeps every document exactly (datetimes, binary, ObjectIds), and a
damaged file restores nothing and names its line. Runs on the in-memory stand-in and, in the wire lane, on a
mongodb:// server."""

from __future__ import annotations

import gzip
import json
import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, CodecOptions, ObjectId

from bot.storage import Database
from bot.storage.backup import (
    COLLECTIONS,
    DamagedBackup,
    raw_database,
    read_header,
    restore_backup,
    verify_backup,
    write_backup,
)

ANA = "15551234567@c.us"
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
NOW = datetime(2026, 5, 1, 9, 30, 15, 123000, tzinfo=UTC)


@pytest.fixture
async def fresh_db(mongodb_uri: str) -> AsyncIterator[Database]:
    """A second, empty database on the same server (a new in-memory store on the stand-in): the restore target."""
    database = await Database.connect(mongodb_uri, f"test_{uuid.uuid4().hex[:12]}", timeout_s=5.0)
    await database.ensure_indexes()
    try:
        yield database
    finally:
        if not database.in_memory:
            await database.drop()
        await database.close()


async def fill(db: Database) -> None:
    """Documents through the repositories, and raw ones with the BSON types JSON would lose."""
    await db.contacts.seen(ANA, phone="15551234567", push_name="Ana")
    await db.contacts.update(ANA, name="Ana", tags=["vip"])
    raw = raw_database(db)
    await raw["personas"].insert_one({"_id": "support", "name": "Sam", "updated_at": NOW})
    await raw["threads"].insert_many(
        [{"_id": ObjectId(), "contact_id": ANA, "last_message_at": NOW - timedelta(days=i)} for i in range(3)]
    )
    await raw["knowledge"].insert_one(
        {"_id": ObjectId(), "persona": "support", "embedding": Binary(b"\x00\x01\xfe\xff"), "score": 0.25, "n": 2**40}
    )
    await raw["scheduled"].insert_one({"_id": ObjectId(), "to": ANA, "at": NOW, "text": "hello"})
    await db.messages.add_inbound(wa_id="wa-1", contact_id=ANA, text="hi", wa_time=NOW, is_group=False)


async def documents(db: Database, collection: str) -> list[dict[str, Any]]:
    """The collection sorted by _id, each document as BSON gives it back (the stand-in keeps what was inserted,
    Binary(b"..", 0) where a server returns bytes)."""
    found = [doc async for doc in raw_database(db)[collection].find({}).sort("_id", 1)]
    return [bson.decode(bson.encode(doc), CODEC) for doc in found]


async def test_round_trip_gives_the_same_documents(db: Database, fresh_db: Database, tmp_path: Path) -> None:
    await fill(db)
    path = tmp_path / "bot.backup.gz"
    seen: list[tuple[str, int]] = []

    header = await write_backup(db, path, account="shop", progress=lambda name, count: seen.append((name, count)))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path], "no temporary file is left behind"
    assert header.collections == {"contacts": 1, "personas": 1, "threads": 3, "knowledge": 1, "scheduled": 1}
    assert seen == list(header.collections.items())
    assert (header.account, header.database) == ("shop", db.name)
    assert read_header(path) == header == verify_backup(path)

    restored_header, written = await restore_backup(fresh_db, path)

    assert restored_header == header
    assert written == header.collections
    for collection in COLLECTIONS:
        assert await documents(fresh_db, collection) == await documents(db, collection), collection
    knowledge = (await documents(fresh_db, "knowledge"))[0]
    assert knowledge["embedding"] == b"\x00\x01\xfe\xff" and knowledge["n"] == 2**40
    assert (await documents(fresh_db, "personas"))[0]["updated_at"] == NOW
    assert await documents(fresh_db, "messages") == [], "messages only when asked"


async def test_messages_are_backed_up_when_asked(db: Database, fresh_db: Database, tmp_path: Path) -> None:
    await fill(db)
    path = tmp_path / "with-messages.gz"
    header = await write_backup(db, path, account="shop", with_messages=True)
    assert header.collections["messages"] == 1
    await restore_backup(fresh_db, path)
    assert await documents(fresh_db, "messages") == await documents(db, "messages")


async def test_missing_collections_are_left_out(db: Database, fresh_db: Database, tmp_path: Path) -> None:
    await raw_database(db)["scheduled"].drop()
    path = tmp_path / "bot.backup.gz"
    header = await write_backup(db, path, account="shop")
    assert "scheduled" not in header.collections
    assert set(header.collections) <= set(COLLECTIONS)


async def test_restore_upserts_by_id_or_replaces(db: Database, fresh_db: Database, tmp_path: Path) -> None:
    await fill(db)
    path = tmp_path / "bot.backup.gz"
    await write_backup(db, path, account="shop")
    target = raw_database(fresh_db)
    await target["personas"].insert_one({"_id": "support", "name": "changed since"})
    await target["personas"].insert_one({"_id": "newer", "name": "made after the backup"})

    await restore_backup(fresh_db, path)
    assert [p["_id"] for p in await documents(fresh_db, "personas")] == ["newer", "support"]
    assert (await target["personas"].find_one({"_id": "support"}))["name"] == "Sam"

    await restore_backup(fresh_db, path, replace=True)
    assert await documents(fresh_db, "personas") == await documents(db, "personas")


def rewrite(path: Path, edit: Any) -> None:
    with gzip.open(path, "rb") as stream:
        lines = stream.read().splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(edit(lines))))


@pytest.mark.parametrize(
    ("damage", "line"),
    [
        pytest.param(lambda lines: [b"not json\n", *lines[1:]], 1, id="header"),
        pytest.param(lambda lines: [*lines[:3], b'{"collection": "contacts"\n', *lines[4:]], 4, id="bad-json"),
        pytest.param(
            lambda lines: [*lines[:2], b'{"collection": "users", "document": {"_id": 1}}\n', *lines[3:]],
            3,
            id="unknown-collection",
        ),
        pytest.param(lambda lines: lines[:-2], 7, id="lines-missing"),
        pytest.param(lambda lines: [*lines[:-1], lines[-1].rstrip(b"\n")], 8, id="last-line-cut"),
    ],
)
async def test_a_damaged_file_restores_nothing_and_names_the_line(
    db: Database, fresh_db: Database, tmp_path: Path, damage: Any, line: int
) -> None:
    await fill(db)
    path = tmp_path / "bot.backup.gz"
    await write_backup(db, path, account="shop")  # 7 documents: lines 2 to 8
    rewrite(path, damage)

    with pytest.raises(DamagedBackup, match=f"damaged at line {line}:") as raised:
        await restore_backup(fresh_db, path, replace=True)

    assert raised.value.line == line
    assert await documents(fresh_db, "contacts") == []


async def test_a_cut_gzip_stream_is_damaged(db: Database, fresh_db: Database, tmp_path: Path) -> None:
    await fill(db)
    path = tmp_path / "bot.backup.gz"
    await write_backup(db, path, account="shop")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DamagedBackup, match="not a complete gzip file"):
        await restore_backup(fresh_db, path)
    assert await documents(fresh_db, "threads") == []


async def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.gz"
    header = {
        "format": "whatsapp-bot-backup",
        "version": 2,
        "account": "a",
        "database": "d",
        "created_at": NOW.isoformat(),
        "host": "h",
        "collections": {},
    }
    path.write_bytes(gzip.compress(json.dumps(header).encode() + b"\n"))
    with pytest.raises(DamagedBackup, match="format version 2"):
        verify_backup(path)
    path.write_bytes(b"plain text, not gzip\n")
    with pytest.raises(DamagedBackup, match="line 1"):
        verify_backup(path)
