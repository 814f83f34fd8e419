"""The profile folder: private, checked with one-line errors, and freed from a dead Chromium's lock only."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import StartupError
from bot.whatsapp.profile import ProfileInUse, chromium_pids, prepare_profile_dir, release_stale_lock


@pytest.fixture
def fake_chromium(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A live process whose command line says it runs on the profile, as Chromium's does."""
    profile = prepare_profile_dir(tmp_path / "sessions" / "acct")
    command = [
        sys.executable,
        "-c",
        "import sys; print('up', flush=True); sys.stdin.read()",  # runs until its stdin is closed
        f"--user-data-dir={profile.resolve()}",
    ]
    # Leaving the block closes its stdin (it ends) and waits for it.
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stdout.readline() == b"up\n"  # exec'd: command line set
        yield profile, process


def test_profile_and_sessions_folder_are_private(tmp_path: Path) -> None:
    profile = prepare_profile_dir(tmp_path / "sessions" / "acct")
    for folder in (profile, profile.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_readable_sessions_folder_is_closed(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir(mode=0o755)
    sessions.chmod(0o755)
    prepare_profile_dir(sessions / "acct")
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o700


def test_a_sessions_folder_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(
        StartupError, match=r"^SESSIONS_DIR .*not-a-folder/sessions cannot be created: Not a directory$"
    ):
        prepare_profile_dir(blocker / "sessions" / "acct")


def test_a_lock_left_by_a_dead_chromium_is_removed(tmp_path: Path) -> None:
    profile = prepare_profile_dir(tmp_path / "sessions" / "acct")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (profile / "SingletonLock").symlink_to(f"{socket.gethostname()}-{dead.pid}")
    (profile / "SingletonCookie").symlink_to("12345")
    release_stale_lock(profile)
    assert not (profile / "SingletonLock").is_symlink() and not (profile / "SingletonCookie").is_symlink()


def test_a_lock_of_a_live_chromium_on_this_profile_is_refused(
    fake_chromium: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    profile, process = fake_chromium
    (profile / "SingletonLock").symlink_to(f"{socket.gethostname()}-{process.pid}")
    with pytest.raises(ProfileInUse, match=f"in use by Chromium process {process.pid}"):
        release_stale_lock(profile)
    assert (profile / "SingletonLock").is_symlink()
    assert chromium_pids(profile) == [process.pid]


def test_a_live_process_that_is_not_on_this_profile_does_not_hold_it(
    fake_chromium: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    _, process = fake_chromium  # alive, but on another profile: the pid in the lock was reused
    other = prepare_profile_dir(tmp_path / "sessions" / "other")
    (other / "SingletonLock").symlink_to(f"{socket.gethostname()}-{process.pid}")
    release_stale_lock(other)
    assert not (other / "SingletonLock").is_symlink()
    assert chromium_pids(other) == []
