"""Backups of the bot's own collections: one gzip'd file of JSON lines in canonical MongoDB Extended JSON.

Line 1 is the header (format, version, account, database, time, host, document counts); every other line is one
document, `{"collection": ..., "document": ...}`. Canonical Extended JSON keeps datetimes, ObjectIds and binary
exact. The counts are known only once the documents are written, so the documents are gzip'd into a temporary
file first; the backup is then the header's gzip member followed by those bytes (a gzip file may hold several
members, read back as one stream), renamed into place at the end: a backup cut short never looks complete.

The collections are read one after the other, not as one snapshot: a backup taken while the daemon runs may hold
a message's thread but not the message. Restoring checks the whole file before it writes anything.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import tempfile
import zlib
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bson import json_util
from bson.json_util import JSONMode, JSONOptions
from pydantic import BaseModel, ValidationError
from pymongo import ReplaceOne

from bot.storage.database import Database

FORMAT: Literal["whatsapp-bot-backup"] = "whatsapp-bot-backup"
FORMAT_VERSION = 1
# The bot's own data, in the order they are written. "scheduled" is there once scheduled messages exist.
COLLECTIONS = ("contacts", "personas", "threads", "knowledge", "scheduled")
MESSAGES = "messages"
BATCH_SIZE = 500

WRITE_OPTIONS = JSONOptions(json_mode=JSONMode.CANONICAL)
READ_OPTIONS = JSONOptions(json_mode=JSONMode.CANONICAL, tz_aware=True, tzinfo=UTC)

Progress = Callable[[str, int], None]


class BackupHeader(BaseModel):
    """The first line of a backup file."""

    format: Literal["whatsapp-bot-backup"] = FORMAT
    version: int = FORMAT_VERSION
    account: str
    database: str
    created_at: datetime
    host: str
    collections: dict[str, int]


class DamagedBackup(ValueError):
    """The file is not a complete backup; `line` is the first line that is wrong or missing (1 is the header)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path} is damaged at line {line}: {reason}; nothing was restored")
        self.line = line


def raw_database(db: Database) -> Any:
    """The pymongo database under the repositories: a backup copies documents whole, whatever their model."""
    return db.raw


async def existing_collections(db: Database, *, with_messages: bool = False) -> list[str]:
    """The collections a backup holds: those of COLLECTIONS (and messages, when asked) that exist."""
    wanted = (*COLLECTIONS, MESSAGES) if with_messages else COLLECTIONS
    present = set(await raw_database(db).list_collection_names())
    return [name for name in wanted if name in present]


async def write_backup(
    db: Database, path: Path, *, account: str, with_messages: bool = False, progress: Progress | None = None
) -> BackupHeader:
    """Write the bot's collections to `path` (mode 0600: it holds contact data), replacing any file there."""
    raw = raw_database(db)
    counts: dict[str, int] = {}
    folder = path.parent
    documents_fd, documents_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    final_fd, final_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(documents_fd, "wb") as documents_file, gzip.GzipFile(fileobj=documents_file, mode="wb") as out:
            for name in await existing_collections(db, with_messages=with_messages):
                count = 0
                async for document in raw[name].find({}).sort("_id", 1):
                    line = json_util.dumps({"collection": name, "document": document}, json_options=WRITE_OPTIONS)
                    out.write(line.encode() + b"\n")
                    count += 1
                counts[name] = count
                if progress is not None:
                    progress(name, count)
        header = BackupHeader(
            account=account,
            database=db.name,
            created_at=datetime.now(UTC),
            host=socket.gethostname(),
            collections=counts,
        )
        with os.fdopen(final_fd, "wb") as final, open(documents_name, "rb") as documents:
            final.write(gzip.compress(header.model_dump_json().encode() + b"\n"))
            while chunk := documents.read(1 << 20):
                final.write(chunk)
            final.flush()
            os.fsync(final.fileno())
        os.replace(final_name, path)
    finally:
        for name in (documents_name, final_name):
            Path(name).unlink(missing_ok=True)
    return header


def read_header(path: Path) -> BackupHeader:
    """The header alone (a quick look; `verify_backup` reads everything)."""
    lines = _lines(path)
    try:
        return _header(path, next(lines, b""))
    finally:
        lines.close()


def verify_backup(path: Path) -> BackupHeader:
    """Read the whole file and check every line; raises DamagedBackup naming the first bad one."""
    header: BackupHeader | None = None
    found: dict[str, int] = {}
    number = 0
    for number, line in enumerate(_lines(path), start=1):
        if header is None:
            header = _header(path, line)
            continue
        collection, _ = _document(path, number, line, header)
        found[collection] = found.get(collection, 0) + 1
    if header is None:
        raise DamagedBackup(path, 1, "the file is empty")
    for collection, count in header.collections.items():
        if found.get(collection, 0) != count:
            raise DamagedBackup(
                path,
                number + 1,
                f"the file ends early: the header counts {count} {collection} documents, the file holds "
                f"{found.get(collection, 0)}",
            )
    return header


async def restore_backup(
    db: Database, path: Path, *, replace: bool = False, progress: Progress | None = None
) -> tuple[BackupHeader, dict[str, int]]:
    """Check the whole file, then write its documents by _id (replacing documents with the same _id).

    With `replace`, the collections the file holds are emptied first (their indexes stay), so documents created
    since the backup are gone too. Returns the header and the documents written per collection.
    """
    header = verify_backup(path)
    raw = raw_database(db)
    if replace:
        for name in header.collections:
            await raw[name].delete_many({})
    written: dict[str, int] = dict.fromkeys(header.collections, 0)
    batch: list[ReplaceOne[Any]] = []
    current: str | None = None

    async def flush() -> None:
        if batch and current is not None:
            if db.in_memory:
                # The stand-in's bulk_write does not take pymongo 4.20's ReplaceOne; one by one does the same.
                for operation in batch:
                    await raw[current].replace_one(operation._filter, operation._doc, upsert=True)
            else:
                await raw[current].bulk_write(batch, ordered=False)
            written[current] += len(batch)
            batch.clear()

    lines = _lines(path)
    next(lines)
    for number, line in enumerate(lines, start=2):
        collection, document = _document(path, number, line, header)
        if collection != current:
            await flush()
            if current is not None and progress is not None:
                progress(current, written[current])
            current = collection
        batch.append(ReplaceOne({"_id": document["_id"]}, document, upsert=True))
        if len(batch) >= BATCH_SIZE:
            await flush()
    await flush()
    if current is not None and progress is not None:
        progress(current, written[current])
    return header, written


def _lines(path: Path) -> Generator[bytes, None, None]:
    """The file's lines; a file that is not gzip or is cut short mid-stream is reported at the line it breaks."""
    number = 0
    try:
        with gzip.open(path, "rb") as stream:
            for number, line in enumerate(stream, start=1):  # noqa: B007 (read after the loop on error)
                if not line.endswith(b"\n"):
                    raise DamagedBackup(path, number, "the last line is cut short")
                yield line
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DamagedBackup(path, number + 1, f"not a complete gzip file ({error})") from error


def _header(path: Path, line: bytes) -> BackupHeader:
    try:
        header = BackupHeader.model_validate_json(line)
    except ValidationError as error:
        raise DamagedBackup(path, 1, f"not a backup header of {FORMAT} version {FORMAT_VERSION}") from error
    if header.version != FORMAT_VERSION:
        raise DamagedBackup(path, 1, f"backup format version {header.version}; this bot reads version {FORMAT_VERSION}")
    return header


def _document(path: Path, number: int, line: bytes, header: BackupHeader) -> tuple[str, dict[str, Any]]:
    try:
        entry = json_util.loads(line, json_options=READ_OPTIONS)
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedBackup(path, number, f"not Extended JSON ({error})") from error
    if not isinstance(entry, dict) or set(entry) != {"collection", "document"}:
        raise DamagedBackup(path, number, 'expected {"collection": ..., "document": ...}')
    collection, document = entry["collection"], entry["document"]
    if collection not in header.collections:
        raise DamagedBackup(path, number, f"collection {collection!r} is not in the header")
    if not isinstance(document, dict) or "_id" not in document:
        raise DamagedBackup(path, number, "the document has no _id")
    return collection, document
