"""Operator commands: `backup FILE [--with-messages] [--profile]` and `restore FILE [--replace]` /
`restore --profile [--replace]`.

The collections go to a file the operator keeps (bot/storage/backup.py); the browser profile's session goes into
MongoDB itself (bot/whatsapp/profile_backup.py), so that a new server with the same MONGODB_URI can take the
account over without a new QR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.settings import Settings
from bot.storage.backup import DamagedBackup, restore_backup, write_backup
from bot.tools import common
from bot.tools.common import ToolError
from bot.whatsapp.profile_backup import ProfileBackup, backup_profile, restore_profile


def _progress(collection: str, count: int) -> None:
    print(f"  {collection}: {count} documents", flush=True)


def _sizes(backup: ProfileBackup) -> str:
    return (
        f"{backup.files} files, {_kib(backup.session_bytes)} ({_kib(backup.archive_bytes)} compressed) of a "
        f"{_kib(backup.profile_bytes)} profile"
    )


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 10 << 20 else f"{size / (1 << 20):.1f} MiB"


async def _backup(args: argparse.Namespace, settings: Settings) -> None:
    if args.file is None and not args.profile:
        raise ToolError("name a FILE for the collections, or give --profile (or both)")
    if args.file is not None and not args.file.parent.is_dir():
        raise ToolError(f"the folder {args.file.parent} does not exist")
    async with common.open_database(settings) as db:
        if args.file is not None:
            print(f"Backing up database {db.name!r} to {args.file}:", flush=True)
            header = await write_backup(
                db, args.file, account=settings.account, with_messages=args.with_messages, progress=_progress
            )
            total = sum(header.collections.values())
            print(f"Wrote {total} documents to {args.file} (mode 0600: it holds contact data).", flush=True)
        if args.profile:
            backup = await backup_profile(
                db, settings.profile_dir, settings.account, keep=settings.profile_backups_kept
            )
            print(
                f"Stored the browser session of account {settings.account!r} in MongoDB (GridFS bucket "
                f"'profiles'): {_sizes(backup)}; the newest {settings.profile_backups_kept} are kept. "
                "It IS the WhatsApp account: protect the database like the account.",
                flush=True,
            )


async def _restore(args: argparse.Namespace, settings: Settings) -> None:
    if args.file is None and not args.profile:
        raise ToolError("name the backup FILE to restore, or give --profile (or both)")
    if args.file is not None and not args.file.is_file():
        raise ToolError(f"no backup file {args.file}")
    async with common.open_database(settings) as db:
        if args.file is not None:
            try:
                header, written = await restore_backup(db, args.file, replace=args.replace, progress=_progress)
            except DamagedBackup as error:
                raise ToolError(str(error)) from None
            if header.account != settings.account or header.database != db.name:
                print(
                    f"Note: the backup is of account {header.account!r}, database {header.database!r}; "
                    f"it was restored into account {settings.account!r}, database {db.name!r}.",
                    flush=True,
                )
            how = "replaced the collections" if args.replace else "upserted by _id"
            print(
                f"Restored {sum(written.values())} documents from {args.file} (taken "
                f"{header.created_at:%Y-%m-%d %H:%M} UTC on {header.host}; {how}).",
                flush=True,
            )
        if args.profile:
            backup = await restore_profile(db, settings.profile_dir, settings.account, replace=args.replace)
            print(
                f"Restored the browser session of account {settings.account!r} into {settings.profile_dir} "
                f"(backed up {backup.created_at:%Y-%m-%d %H:%M} UTC on {backup.host}; {_sizes(backup)}). "
                "Start the bot: it comes back without a new QR.",
                flush=True,
            )


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="write the bot's collections (contacts, personas, threads, knowledge, scheduled) to FILE; "
        "--profile stores the browser session in MongoDB",
    )
    backup.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the backup file (gzip'd JSON lines)")
    backup.add_argument("--with-messages", action="store_true", help="the messages too (can be large)")
    backup.add_argument(
        "--profile",
        action="store_true",
        help="store the browser profile's WhatsApp session in MongoDB (GridFS), so that another server can take "
        "the account over without a QR; the bot must be stopped",
    )
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore", help="restore a backup FILE into the database; --profile restores the browser session"
    )
    restore.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a file written by `backup`")
    restore.add_argument(
        "--replace",
        action="store_true",
        help="empty the collections in the file first (else documents are upserted by _id); with --profile, "
        "put the backup in place of a profile folder that is not empty",
    )
    restore.add_argument(
        "--profile",
        action="store_true",
        help="unpack the newest stored browser session of ACCOUNT into its profile folder; the bot must be stopped",
    )
    restore.set_defaults(handler=_restore)
