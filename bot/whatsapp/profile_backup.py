"""The browser profile's WhatsApp session, kept in MongoDB (GridFS) so that another server can take the account
over without a new QR.

Only what the session needs is archived: IndexedDB and Local Storage (where WhatsApp Web keeps its keys), the
cookies and Chromium's Local State. Chromium rebuilds everything else (HTTP and code caches, GPU shaders,
service worker caches, history), which is most of a profile: on the profile a simulator-linked test leaves, the
session is about 26 KB (4 KB compressed) of 2.6 MB; on a real WhatsApp profile the caches are hundreds of MB.

A backup is a tar.gz in the GridFS bucket "profiles", named after the account; the newest few are kept. The
profile is the account, so these files must be protected like it (who can read the database can take it over).
"""

from __future__ import annotations

import shutil
import socket
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket

from bot.errors import StartupError
from bot.storage.backup import raw_database
from bot.storage.database import Database
from bot.whatsapp.profile import ProfileInUse, chromium_pids, prepare_sessions_dir

BUCKET = "profiles"
DEFAULT_KEEP = 3
# Relative to the profile folder. Cookies sit in Default/Network on some platforms and Chromium versions.
SESSION_PARTS = (
    "Local State",
    "Default/IndexedDB",
    "Default/Local Storage",
    "Default/Cookies",
    "Default/Cookies-journal",
    "Default/Network/Cookies",
    "Default/Network/Cookies-journal",
)


class ProfileBackupError(StartupError):
    """The profile cannot be backed up or restored as asked; the message says why. Nothing changed."""


class UnsafeArchive(ProfileBackupError):
    """An archive member would land outside the profile folder, or is not a plain file or folder."""


@dataclass(frozen=True, slots=True)
class ProfileBackup:
    """One stored profile backup (a GridFS file of the bucket "profiles")."""

    file_id: ObjectId
    account: str
    created_at: datetime
    host: str
    files: int
    session_bytes: int  # the archived files, uncompressed
    archive_bytes: int  # what the backup takes in MongoDB
    profile_bytes: int  # the whole profile folder, caches included


def session_files(profile_dir: Path) -> list[Path]:
    """The profile's session files (regular files only: lock symlinks and sockets are left out), sorted."""
    found: list[Path] = []
    for part in SESSION_PARTS:
        path = profile_dir / part
        candidates = path.rglob("*") if path.is_dir() and not path.is_symlink() else [path]
        found.extend(p for p in candidates if p.is_file() and not p.is_symlink())
    return sorted(found)


def folder_bytes(folder: Path) -> int:
    """The size of every regular file under `folder`."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def pack_session(profile_dir: Path, destination: IO[bytes]) -> tuple[int, int]:
    """Write the session files of `profile_dir` as a tar.gz to `destination`; returns (files, bytes)."""
    files = session_files(profile_dir)
    with tarfile.open(fileobj=destination, mode="w:gz") as archive:
        for path in files:
            info = archive.gettarinfo(str(path), arcname=path.relative_to(profile_dir).as_posix())
            # Owner names and ids mean nothing on the server that restores it.
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as content:
                archive.addfile(info, content)
    return len(files), sum(path.stat().st_size for path in files)


def check_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member, once each is known to stay inside the folder it is unpacked into; raises UnsafeArchive."""
    members = archive.getmembers()
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
            raise UnsafeArchive(f"the profile backup holds an unsafe path {member.name!r}; nothing was restored")
        if member.issym() or member.islnk():
            target = PurePosixPath(member.linkname)
            base = name.parent if member.issym() else PurePosixPath()
            if target.is_absolute() or _escapes(base / target):
                raise UnsafeArchive(
                    f"the profile backup holds a link {member.name!r} -> {member.linkname!r} out of the profile; "
                    "nothing was restored"
                )
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"the profile backup holds {member.name!r}, not a file or folder; nothing was restored")
    return members


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def check_restorable(profile_dir: Path, *, replace: bool) -> None:
    """Refuse to restore over a profile a Chromium uses, or over one that holds anything, unless `replace`."""
    pids = chromium_pids(profile_dir)
    if pids:
        raise ProfileInUse(
            f"the browser profile {profile_dir} is in use by Chromium (pids {', '.join(map(str, pids))}): stop the "
            "bot (or `run_bot.py login`) on this account first"
        )
    if not replace and profile_dir.is_dir() and any(profile_dir.iterdir()):
        raise ProfileBackupError(
            f"the browser profile {profile_dir} is not empty: it may hold another link of this account. "
            "Add --replace to put the backup in its place"
        )


def unpack_session(archive_file: IO[bytes], profile_dir: Path, *, replace: bool = False) -> int:
    """Unpack a session archive as the profile folder (folders 0700, files 0600); returns the files unpacked.

    It is unpacked beside the profile first and moved into place once complete, so a damaged archive leaves the
    current profile as it was.
    """
    check_restorable(profile_dir, replace=replace)
    prepare_sessions_dir(profile_dir.parent)
    staging = Path(tempfile.mkdtemp(dir=profile_dir.parent, prefix=f".{profile_dir.name}.restore-"))
    try:
        with tarfile.open(fileobj=archive_file, mode="r:gz") as archive:
            members = check_members(archive)
            archive.extractall(staging, members=members, filter="data")
        files = _make_private(staging)
        if profile_dir.is_dir() and not profile_dir.is_symlink():
            shutil.rmtree(profile_dir)
        elif profile_dir.exists() or profile_dir.is_symlink():
            profile_dir.unlink()
        staging.rename(profile_dir)
        return files
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ProfileBackupError(f"the profile backup cannot be unpacked ({error}); nothing was restored") from error
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _make_private(folder: Path) -> int:
    folder.chmod(0o700)
    files = 0
    for path in folder.rglob("*"):
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            path.chmod(0o700)
        elif stat.S_ISREG(mode):
            path.chmod(0o600)
            files += 1
    return files


def profile_bucket(db: Database) -> AsyncGridFSBucket:
    if db.in_memory:  # the stand-in has no GridFS, and would not keep the backup anyway
        raise ProfileBackupError("profile backups need a real MongoDB (GridFS); set MONGODB_URI")
    return AsyncGridFSBucket(raw_database(db), bucket_name=BUCKET)


async def backup_profile(db: Database, profile_dir: Path, account: str, *, keep: int = DEFAULT_KEEP) -> ProfileBackup:
    """Store the profile's session in GridFS, then remove all but the newest `keep` backups of the account.

    Refused while a Chromium uses the profile: its databases are mid-write then, and a torn copy is no session.
    """
    pids = chromium_pids(profile_dir)
    if pids:
        raise ProfileInUse(
            f"the browser profile {profile_dir} is in use by Chromium (pids {', '.join(map(str, pids))}): stop "
            "the bot first, so that the session is copied whole"
        )
    if not session_files(profile_dir):
        raise ProfileBackupError(f"{profile_dir} holds no WhatsApp session to back up: link the account first")
    bucket = profile_bucket(db)
    with tempfile.TemporaryFile() as archive:
        files, session_bytes = pack_session(profile_dir, archive)
        archive_bytes = archive.tell()
        archive.seek(0)
        metadata = {
            "account": account,
            "created_at": datetime.now(UTC),
            "host": socket.gethostname(),
            "files": files,
            "session_bytes": session_bytes,
            "archive_bytes": archive_bytes,
            "profile_bytes": folder_bytes(profile_dir),
        }
        file_id = await bucket.upload_from_stream(account, archive, metadata=metadata)
    for old in (await list_profile_backups(db, account))[keep:]:
        await bucket.delete(old.file_id)
    return _backup(file_id, account, metadata)


async def list_profile_backups(db: Database, account: str) -> list[ProfileBackup]:
    """The account's stored profile backups, newest first."""
    bucket = profile_bucket(db)
    cursor = bucket.find({"filename": account}).sort([("uploadDate", -1), ("_id", -1)])
    return [_backup(grid_out._id, account, grid_out.metadata or {}) async for grid_out in cursor]


async def restore_profile(db: Database, profile_dir: Path, account: str, *, replace: bool = False) -> ProfileBackup:
    """Unpack the account's newest profile backup as its profile folder (see unpack_session)."""
    check_restorable(profile_dir, replace=replace)
    backups = await list_profile_backups(db, account)
    if not backups:
        raise ProfileBackupError(f"MongoDB holds no profile backup of account {account!r} (bucket {BUCKET!r})")
    newest = backups[0]
    with tempfile.TemporaryFile() as archive:
        await profile_bucket(db).download_to_stream(newest.file_id, archive)
        archive.seek(0)
        unpack_session(archive, profile_dir, replace=replace)
    return newest


def _backup(file_id: Any, account: str, metadata: dict[str, Any]) -> ProfileBackup:
    created_at = metadata.get("created_at") or datetime.fromtimestamp(0, UTC)
    return ProfileBackup(
        file_id=file_id,
        account=account,
        created_at=created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC),
        host=str(metadata.get("host", "")),
        files=int(metadata.get("files", 0)),
        session_bytes=int(metadata.get("session_bytes", 0)),
        archive_bytes=int(metadata.get("archive_bytes", 0)),
        profile_bytes=int(metadata.get("profile_bytes", 0)),
    )
