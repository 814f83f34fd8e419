"""Finding and launching Chromium with the flags a headless, offline-safe, long-running daemon needs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.async_api import BrowserContext, Playwright

SYSTEM_CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

# Without these Chromium phones home at start-up (updates, sync, field trials), which fails on a closed
# network and adds noise under systemd.
BASE_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
)


class BrowserNotFound(RuntimeError):
    """No Chromium could be found to drive."""


def find_chromium(playwright: Playwright, explicit: Path | None = None) -> Path:
    """Return the Chromium to launch: the explicit setting, else Playwright's own build, else the system one."""
    if explicit is not None:
        if not explicit.exists():
            raise BrowserNotFound(f"BROWSER_EXECUTABLE points to {explicit}, which does not exist")
        return explicit
    managed = Path(playwright.chromium.executable_path)
    if managed.exists():
        return managed
    for candidate in SYSTEM_CHROMIUM_PATHS:
        if Path(candidate).exists():
            return Path(candidate)
    on_path = shutil.which("chromium")
    if on_path:
        return Path(on_path)
    raise BrowserNotFound(
        "no Chromium found: install Debian's chromium (apt-get install chromium) or set BROWSER_EXECUTABLE"
    )


def chromium_flags() -> list[str]:
    """Launch flags; the sandbox is only turned off when running as root, where Chromium refuses it."""
    flags = list(BASE_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")
    return flags


def prepare_profile_dir(path: Path) -> Path:
    """Create the profile folder (and its parent) private to the bot's user: the profile is the account."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.mkdir(exist_ok=True)
    path.chmod(0o700)
    return path


async def launch_profile(
    playwright: Playwright,
    profile_dir: Path,
    *,
    headless: bool = True,
    executable: Path | None = None,
) -> BrowserContext:
    """Launch Chromium on a persistent profile; the returned context owns the browser process."""
    prepare_profile_dir(profile_dir)
    return await playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(find_chromium(playwright, executable)),
        headless=headless,
        args=chromium_flags(),
        viewport={"width": 1200, "height": 800},
        # The bot may run as root under systemd; SIGINT/SIGTERM are handled by the daemon, which closes the
        # browser itself in the right order.
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )
