"""The account's browser profile folder: private, writable, and not locked by a Chromium that no longer runs.

The profile *is* the WhatsApp account (anyone holding it reads and sends as the operator), so the sessions
folder and the profile are kept at mode 0700. Chromium marks a profile in use with a `SingletonLock` symlink
(`<hostname>-<pid>`); after a crash or `kill -9` it stays behind and a new Chromium may refuse the profile.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from loguru import logger

from bot.errors import StartupError

LOCK_FILES = ("SingletonLock", "SingletonSocket", "SingletonCookie")


class ProfileInUse(StartupError):
    """A live Chromium already runs on this profile: another bot (or `login`) drives the account."""


def prepare_sessions_dir(sessions_dir: Path) -> None:
    """Create the sessions folder, or check it: a folder we can write, readable by nobody else.

    A folder we own that others can read is closed (0700) with a warning; one we cannot fix is an error.
    """
    try:
        sessions_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(f"SESSIONS_DIR {sessions_dir} cannot be created: {error.strerror}") from error
    _check_private_dir(sessions_dir, setting="SESSIONS_DIR")


def prepare_profile_dir(profile_dir: Path) -> Path:
    """The account's profile folder (inside the sessions folder), created private."""
    prepare_sessions_dir(profile_dir.parent)
    try:
        profile_dir.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise StartupError(f"the profile folder {profile_dir} cannot be created: {error.strerror}") from error
    _check_private_dir(profile_dir, setting="SESSIONS_DIR")
    return profile_dir


def _check_private_dir(path: Path, *, setting: str) -> None:
    if not path.is_dir():
        raise StartupError(f"{setting}: {path} is not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"{setting}: {path} is not writable by this user (uid {os.geteuid()})")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(0o700)
        except OSError as error:
            raise StartupError(
                f"{setting}: {path} is readable by other users (mode {mode:o}) and cannot be made private: "
                f"{error.strerror}; it holds the WhatsApp session"
            ) from error
        logger.warning(
            "{} was readable by other users (mode {:o}); it is now 0700: it holds the WhatsApp session", path, mode
        )


def release_stale_lock(profile_dir: Path) -> None:
    """Remove Chromium's lock files when no live Chromium of this machine owns them; refuse when one does."""
    lock = profile_dir / "SingletonLock"
    if not lock.is_symlink():
        return
    owner = os.readlink(lock)
    host, _, pid_text = owner.rpartition("-")
    if host == socket.gethostname() and pid_text.isdigit() and _runs_on_profile(int(pid_text), profile_dir):
        raise ProfileInUse(
            f"the browser profile {profile_dir} is in use by Chromium process {pid_text}: another bot or "
            "`run_bot.py login` drives this ACCOUNT; stop it first"
        )
    for name in LOCK_FILES:
        (profile_dir / name).unlink(missing_ok=True)
    logger.warning("removed a stale browser profile lock left by {} (Chromium did not shut down cleanly)", owner)


def _runs_on_profile(pid: int, profile_dir: Path) -> bool:
    """True if `pid` is alive and is a Chromium started on this profile (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # The browser is always launched with the resolved path (see browser.py). Helper processes rewrite their
    # title, which joins the arguments with spaces instead of NULs.
    marker = f"--user-data-dir={profile_dir.resolve()}".encode()
    return any(marker + end in cmdline + b"\0" for end in (b"\0", b" "))


def chromium_pids(profile_dir: Path) -> list[int]:
    """Pids of every Chromium process (browser and helpers) running on this profile."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if pid != os.getpid() and _runs_on_profile(pid, profile_dir)]
