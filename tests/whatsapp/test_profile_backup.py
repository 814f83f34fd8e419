"""The profile's session backup: only the session parts are archived, unpacking is private and refuses unsafe
archives, a profile in use or one that holds something; the GridFS part needs a server (wire lane)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import MEMORY_URI
from bot.storage import Database
from bot.whatsapp.profile import ProfileInUse, chromium_pids
from bot.whatsapp.profile_backup import (
    ProfileBackupError,
    UnsafeArchive,
    backup_profile,
    list_profile_backups,
    pack_session,
    restore_profile,
    session_files,
    unpack_session,
)

from ..waiting import wait_until

SESSION = {
    "Local State": b'{"os_crypt": {}}',
    "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000003.log": b"keys",
    "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/CURRENT": b"MANIFEST-000001\n",
    "Default/Local Storage/leveldb/000003.log": b"WABrowserId",
    "Default/Cookies": b"sqlite",
    "Default/Cookies-journal": b"",
}
CACHES = {
    "Default/Cache/Cache_Data/data_1": b"x" * 100_000,
    "Default/Code Cache/js/index": b"x" * 1000,
    "Default/GPUCache/data_0": b"x" * 1000,
    "Default/Service Worker/CacheStorage/abc/index": b"x" * 1000,
    "Default/Preferences": b"{}",
    "GPUPersistentCache/index": b"x",
}


def make_profile(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


def archived(profile: Path) -> tuple[io.BytesIO, int, int]:
    archive = io.BytesIO()
    files, size = pack_session(profile, archive)
    archive.seek(0)
    return archive, files, size


def read_tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    folder = make_profile(tmp_path / "sessions" / "shop", {**SESSION, **CACHES})
    (folder / "SingletonLock").symlink_to("otherhost-1234")
    (folder / "Default" / "IndexedDB" / "outside").symlink_to("/etc/passwd")
    return folder


def test_only_the_session_parts_are_archived(profile: Path) -> None:
    archive, files, size = archived(profile)
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        names = {member.name for member in tar.getmembers()}
        assert all(member.uid == 0 and member.uname == "" for member in tar.getmembers())
    assert names == set(SESSION)
    assert files == len(SESSION)
    assert size == sum(len(content) for content in SESSION.values())
    assert [p.relative_to(profile).as_posix() for p in session_files(profile)] == sorted(SESSION)


def test_unpacked_profile_is_the_session_and_private(profile: Path, tmp_path: Path) -> None:
    archive, _, _ = archived(profile)
    target = tmp_path / "new-server" / "sessions" / "shop"

    assert unpack_session(archive, target) == len(SESSION)

    assert read_tree(target) == SESSION
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    for path in [target, *target.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert [p.name for p in target.parent.iterdir()] == ["shop"], "no staging folder is left behind"


def test_a_profile_that_holds_something_is_replaced_only_when_asked(profile: Path, tmp_path: Path) -> None:
    archive, _, _ = archived(profile)
    target = make_profile(tmp_path / "other" / "shop", {"Default/Preferences": b"old", "Local State": b"old"})

    with pytest.raises(ProfileBackupError, match="not empty.*--replace"):
        unpack_session(archive, target)
    assert read_tree(target) == {"Default/Preferences": b"old", "Local State": b"old"}

    archive.seek(0)
    unpack_session(archive, target, replace=True)
    assert read_tree(target) == SESSION

    empty = tmp_path / "empty" / "shop"
    empty.mkdir(parents=True)
    archive.seek(0)
    unpack_session(archive, empty)  # an empty folder (as `run` leaves before linking) needs no --replace
    assert read_tree(empty) == SESSION


def unsafe_archive(kind: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = tarfile.TarInfo("Local State")
        tar.addfile(good, io.BytesIO(b""))
        member = tarfile.TarInfo({"absolute": "/tmp/evil", "dotdot": "Default/../../evil"}.get(kind, "Default/x"))
        if kind == "symlink-out":
            member.type, member.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        elif kind == "symlink-absolute":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "hardlink-out":
            member.type, member.linkname = tarfile.LNKTYPE, "../evil"
        elif kind == "device":
            member.type = tarfile.CHRTYPE
        tar.addfile(member, io.BytesIO(b"") if member.isfile() else None)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-out", "symlink-absolute", "hardlink-out", "device"])
def test_unsafe_archive_members_are_refused(kind: str, tmp_path: Path) -> None:
    target = make_profile(tmp_path / "sessions" / "shop", {"Local State": b"current"})

    with pytest.raises(UnsafeArchive, match="nothing was restored"):
        unpack_session(unsafe_archive(kind), target, replace=True)

    assert read_tree(target) == {"Local State": b"current"}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["Local State", "sessions", "shop"]


def test_a_damaged_archive_leaves_the_profile_as_it_was(tmp_path: Path) -> None:
    target = make_profile(tmp_path / "sessions" / "shop", {"Local State": b"current"})
    with pytest.raises(ProfileBackupError, match="cannot be unpacked"):
        unpack_session(io.BytesIO(b"not a tar.gz"), target, replace=True)
    assert read_tree(target) == {"Local State": b"current"}
    assert [p.name for p in target.parent.iterdir()] == ["shop"]


@pytest.fixture
def chromium_on(profile: Path) -> Iterator[int]:
    """A process that looks like a Chromium on `profile` (its command line names the profile, as Chromium's does)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", f"--user-data-dir={profile.resolve()}"],
        stdin=subprocess.PIPE,  # it lives until killed (or until its stdin closes with the test)
    )
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=10)
        assert process.stdin is not None
        process.stdin.close()


async def test_nothing_is_done_while_chromium_uses_the_profile(profile: Path, chromium_on: int, tmp_path: Path) -> None:
    await wait_until(lambda: chromium_on in chromium_pids(profile), 10.0)
    archive, _, _ = archived(profile)
    before = read_tree(profile)

    with pytest.raises(ProfileInUse, match=str(chromium_on)):
        unpack_session(archive, profile, replace=True)
    db = await Database.connect(MEMORY_URI, "unused")
    try:
        with pytest.raises(ProfileInUse, match="stop the bot"):
            await backup_profile(db, profile, "shop")
        with pytest.raises(ProfileInUse):
            await restore_profile(db, profile, "shop", replace=True)
    finally:
        await db.close()
    assert read_tree(profile) == before


async def test_the_in_memory_store_cannot_hold_profiles(profile: Path) -> None:
    db = await Database.connect(MEMORY_URI, "memory")
    try:
        with pytest.raises(ProfileBackupError, match="real MongoDB"):
            await backup_profile(db, profile, "shop")
    finally:
        await db.close()


async def test_a_profile_without_a_session_is_not_backed_up(tmp_path: Path) -> None:
    folder = make_profile(tmp_path / "sessions" / "shop", CACHES)
    db = await Database.connect(MEMORY_URI, "memory")
    try:
        with pytest.raises(ProfileBackupError, match="link the account first"):
            await backup_profile(db, folder, "shop")
    finally:
        await db.close()


@pytest.mark.mongodb
async def test_gridfs_keeps_the_newest_backups_and_restores_the_newest(
    db: Database, profile: Path, tmp_path: Path
) -> None:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    for version in range(4):
        (profile / "Default" / "Cookies").write_bytes(f"version {version}".encode())
        await backup_profile(db, profile, account, keep=3)

    backups = await list_profile_backups(db, account)

    assert len(backups) == 3
    newest = backups[0]
    assert newest.files == len(SESSION)
    assert newest.host == os.uname().nodename
    assert newest.profile_bytes > newest.session_bytes > 0 and newest.archive_bytes > 0
    assert [b.created_at for b in backups] == sorted((b.created_at for b in backups), reverse=True)
    assert await list_profile_backups(db, "another-account") == []

    target = tmp_path / "new-server" / "sessions" / account
    restored = await restore_profile(db, target, account)

    assert restored.file_id == newest.file_id
    assert read_tree(target) == {**SESSION, "Default/Cookies": b"version 3"}
    with pytest.raises(ProfileBackupError, match="no profile backup"):
        await restore_profile(db, tmp_path / "sessions" / "nobody", "nobody")
