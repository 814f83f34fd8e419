"""Chromium on the account's profile: finding it, launching it like a normal desktop browser, noticing its death.

A `BrowserSession` is one Chromium process with its one page. It never recovers by itself: it reports that it is
lost (`lost` is set, with a reason) and the supervisor throws it away and launches a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

from loguru import logger
from playwright.async_api import BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from bot.errors import StartupError
from bot.whatsapp.page import first_line
from bot.whatsapp.profile import chromium_pids, prepare_profile_dir, release_stale_lock

SYSTEM_CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

# Without these Chromium phones home at start-up (updates, sync, field trials), which fails on a closed
# network and adds noise under systemd. AutomationControlled off: navigator.webdriver stays false.
BASE_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--disable-blink-features=AutomationControlled",
)
# What desktop Chrome on Linux sends (with the reduced version Chrome itself reports): headless Chromium would
# say "HeadlessChrome", which WhatsApp Web may treat differently.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
CLOSE_TIMEOUT_S = 10.0
LAUNCH_TIMEOUT_S = 60.0
PROFILE_POLL_S = 0.1


class BrowserNotFound(StartupError):
    """No Chromium could be found to drive, or the configured one cannot run."""


class LaunchFailed(Exception):
    """Chromium did not start or did not open the page; worth another try."""


def find_chromium(playwright: Playwright, explicit: Path | None = None) -> Path:
    """Return the Chromium to launch: the explicit setting, else Playwright's own build, else the system one."""
    if explicit is not None:
        if not explicit.is_file():
            raise BrowserNotFound(f"BROWSER_EXECUTABLE {explicit} does not exist or is not a file")
        if not os.access(explicit, os.X_OK):
            raise BrowserNotFound(f"BROWSER_EXECUTABLE {explicit} is not executable by this user")
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


_user_agents: dict[Path, str] = {}


async def desktop_user_agent(executable: Path) -> str:
    """A desktop Chrome user agent with the major version of this Chromium (`chromium --version`)."""
    if executable in _user_agents:
        return _user_agents[executable]
    try:
        process = await asyncio.create_subprocess_exec(
            str(executable), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        async with asyncio.timeout(30):
            output = (await process.communicate())[0].decode(errors="replace")
    except (OSError, TimeoutError) as error:
        raise BrowserNotFound(f"BROWSER_EXECUTABLE {executable} does not run: {error}") from error
    match = re.search(r"(\d+)\.\d+\.\d+\.\d+", output)
    if match is None:
        raise BrowserNotFound(f"{executable} --version printed no Chromium version: {output.strip()[:100]!r}")
    _user_agents[executable] = USER_AGENT.format(major=match.group(1))
    return _user_agents[executable]


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class BrowserSession:
    """One Chromium process on the profile, and its page. `lost` is set when either dies."""

    def __init__(self, context: BrowserContext, page: Page, profile_dir: Path) -> None:
        self.context = context
        self.page = page
        self._profile_dir = profile_dir
        self.lost = asyncio.Event()
        self.lost_reason = ""
        context.on("close", lambda _: self._mark_lost("the browser closed or was killed"))
        page.on("crash", lambda _: self._mark_lost("the page crashed"))
        page.on("close", lambda _: self._mark_lost("the page was closed"))

    @classmethod
    async def launch(
        cls, playwright: Playwright, profile_dir: Path, *, executable: Path, headless: bool = True
    ) -> BrowserSession:
        """Launch Chromium on the profile; raises ProfileInUse, BrowserNotFound, or LaunchFailed (retry)."""
        prepare_profile_dir(profile_dir)
        release_stale_lock(profile_dir)
        try:
            context = await playwright.chromium.launch_persistent_context(
                # Resolved: the profile lock check recognises our Chromium by this exact argument.
                str(profile_dir.resolve()),
                executable_path=str(executable),
                headless=headless,
                args=chromium_flags(),
                ignore_default_args=["--enable-automation"],
                user_agent=await desktop_user_agent(executable),
                viewport={"width": 1200, "height": 800},
                # The daemon handles SIGINT/SIGTERM itself and closes the browser in the right order.
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
                timeout=LAUNCH_TIMEOUT_S * 1000,
            )
        except PlaywrightError as error:
            raise LaunchFailed(f"Chromium did not start: {first_line(error)}") from error
        try:
            page = context.pages[0] if context.pages else await context.new_page()
        except PlaywrightError as error:
            await context.close()
            raise LaunchFailed(f"Chromium started but opened no page: {first_line(error)}") from error
        return cls(context, page, profile_dir)

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    async def open(self, url: str, *, timeout_s: float) -> None:
        """Navigate to WhatsApp Web; raises LaunchFailed naming WHATSAPP_URL when it cannot be reached."""
        try:
            await self.page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
        except PlaywrightError as error:
            raise LaunchFailed(f"cannot open WHATSAPP_URL {url}: {first_line(error)}") from error

    async def close(self) -> None:
        """Close the browser and wait for its processes to be gone; if they do not go within the deadline (hung),
        kill what runs on the profile. A relaunch while the old browser still shuts down (the daily restart
        closes it from outside) would find the profile in use and never come up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_TIMEOUT_S
        try:
            async with asyncio.timeout_at(deadline):
                await self.context.close()
                # Polled: these are Chromium's processes (children of Playwright's driver), not ours to wait for.
                while chromium_pids(self._profile_dir):
                    await asyncio.sleep(PROFILE_POLL_S)
        except (PlaywrightError, TimeoutError) as error:
            logger.warning("the browser did not close cleanly ({}); killing it", type(error).__name__)
            _kill(chromium_pids(self._profile_dir))
