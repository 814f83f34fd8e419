"""Operator command `doctor`: checks the set-up and says what to fix, one line per check.

Each check is a function returning a `CheckResult` (the tests call them one by one); the command runs them all,
prints one line each (ok / WARN / FAIL, and the fix) and exits 3 when any FAILs. Nothing is changed and, unless
--check-gemini is given, nothing leaves the machine but the MongoDB connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright
from pydantic import BaseModel, ConfigDict

from bot.ai import GeminiResponder
from bot.errors import StartupError, Unavailable
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Database
from bot.storage.database import INDEXES
from bot.whatsapp.browser import BrowserNotFound, chromium_flags, find_chromium

WA_JS_PACKAGE = "@wppconnect/wa-js"
CHROMIUM_TIMEOUT_S = 60.0
TIMEDATECTL_TIMEOUT_S = 5.0
DISK_FAIL_BELOW = 512 * 1024**2  # a WhatsApp Web profile alone grows to a few hundred MB
DISK_WARN_BELOW = 2 * 1024**3
EARLIEST_PLAUSIBLE_YEAR = 2024  # a clock before this was never set (no RTC, no NTP)


class Status(StrEnum):
    OK = "ok"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "skip"


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        fix = f"\n        fix: {self.fix}" if self.fix else ""
        return f"{self.status.value:<4}  {self.name}: {self.detail}{fix}"


async def check_chromium(settings: Settings) -> CheckResult:
    """Chromium is found and starts headless (launched for a moment, on a throwaway profile)."""
    name = "chromium"
    try:
        async with async_playwright() as playwright:
            executable = find_chromium(playwright, settings.browser_executable)
            async with asyncio.timeout(CHROMIUM_TIMEOUT_S):
                browser = await playwright.chromium.launch(
                    executable_path=executable, headless=True, args=chromium_flags()
                )
                try:
                    await (await browser.new_page()).goto("about:blank")
                    version = browser.version
                finally:
                    await browser.close()
    except BrowserNotFound as error:
        return CheckResult(name=name, status=Status.FAIL, detail=str(error), fix="apt-get install chromium")
    except (PlaywrightError, TimeoutError, OSError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        return CheckResult(
            name=name,
            status=Status.FAIL,
            detail=f"Chromium does not start headless: {first_line}",
            fix="install Debian's chromium with its libraries (apt-get install chromium) or set BROWSER_EXECUTABLE "
            "to a working one; run doctor as the bot's user",
        )
    return CheckResult(name=name, status=Status.OK, detail=f"{executable} (version {version}) starts headless")


def check_wa_js(settings: Settings) -> CheckResult:
    """The wa-js bundle is where WA_JS_PATH says, and which version it is (against the one package.json pins)."""
    name = "wa-js"
    fix = f"run `npm ci` in {PROJECT_ROOT} (scripts/setup.sh does it)"
    if not settings.wa_js_path.is_file():
        return CheckResult(name=name, status=Status.FAIL, detail=f"missing at {settings.wa_js_path}", fix=fix)
    installed = _package_version(settings.wa_js_path)
    pinned = _pinned_version(PROJECT_ROOT / "package.json")
    if installed is None:
        return CheckResult(
            name=name, status=Status.WARN, detail=f"{settings.wa_js_path} (version unknown: no package.json)", fix=fix
        )
    if pinned is not None and pinned != installed:
        return CheckResult(
            name=name, status=Status.WARN, detail=f"version {installed} installed, package.json pins {pinned}", fix=fix
        )
    return CheckResult(name=name, status=Status.OK, detail=f"version {installed} ({settings.wa_js_path})")


async def check_mongodb(settings: Settings) -> CheckResult:
    """MongoDB answers and has the bot's indexes (the bot creates them when it starts)."""
    name = "mongodb"
    if settings.mongodb_uri is None:
        return CheckResult(
            name=name, status=Status.FAIL, detail="MONGODB_URI is not set", fix="set MONGODB_URI=mongodb://host:27017"
        )
    if settings.uses_memory_store:
        return CheckResult(
            name=name,
            status=Status.WARN,
            detail="MONGODB_URI=memory://: the in-memory store keeps nothing across restarts",
            fix="set MONGODB_URI to a MongoDB server (mongodb://host:27017, or an Atlas mongodb+srv:// address)",
        )
    try:
        database = await Database.from_settings(settings)
    except StartupError as error:  # the message names the cause, never the URI (it may hold a password)
        return CheckResult(
            name=name,
            status=Status.FAIL,
            detail=str(error),
            fix="start MongoDB, or correct MONGODB_URI (host, port, user, password, TLS)",
        )
    try:
        missing = await missing_indexes(database)
    finally:
        await database.close()
    where = f"database {settings.mongodb_database!r}"
    if missing:
        return CheckResult(
            name=name,
            status=Status.WARN,
            detail=f"{where} answers; indexes missing: {', '.join(missing)}",
            fix="start the bot once (it creates its indexes at start-up)",
        )
    return CheckResult(name=name, status=Status.OK, detail=f"{where} answers; all indexes present")


async def missing_indexes(database: Database) -> list[str]:
    """The bot's indexes (INDEXES) the database lacks, as collection.index names."""
    missing = []
    for collection, indexes in INDEXES.items():
        present = await database.index_names(collection)
        missing += [
            f"{collection}.{index.document['name']}" for index in indexes if index.document["name"] not in present
        ]
    return missing


async def check_gemini(settings: Settings, *, call: bool) -> CheckResult:
    """The API key is set; with `call`, Gemini takes it (a model lookup: no tokens spent)."""
    name = "gemini"
    if settings.gemini_api_key is None:
        return CheckResult(
            name=name,
            status=Status.FAIL,
            detail="GEMINI_API_KEY is not set",
            fix="get a key at https://aistudio.google.com/apikey and set GEMINI_API_KEY",
        )
    if not call:
        return CheckResult(
            name=name, status=Status.SKIP, detail="GEMINI_API_KEY is set, not tried (--check-gemini tries it, free)"
        )
    responder = GeminiResponder.from_settings(settings)
    try:
        await responder.check()
    except Unavailable as error:
        return CheckResult(
            name=name,
            status=Status.FAIL,
            detail=str(error),
            fix="try again later; if it lasts, check this server's network (firewall, proxy)",
        )
    except StartupError as error:
        return CheckResult(
            name=name, status=Status.FAIL, detail=str(error), fix="correct GEMINI_API_KEY or GEMINI_MODEL"
        )
    finally:
        await responder.close()
    return CheckResult(name=name, status=Status.OK, detail=f"the key works; model {settings.gemini_model!r} found")


def check_profile(settings: Settings) -> CheckResult:
    """The sessions folder and the account's profile: ours, writable, 0700 (see bot/whatsapp/profile.py)."""
    name = "profile folder"
    uid = os.geteuid()
    for path in (settings.sessions_dir.absolute(), settings.profile_dir.absolute()):
        if not path.exists():
            parent = _existing_parent(path)
            if not os.access(parent, os.W_OK | os.X_OK):
                return CheckResult(
                    name=name,
                    status=Status.FAIL,
                    detail=f"{path} does not exist and {parent} is not writable by uid {uid}",
                    fix=f"create it for the bot's user: install -d -m 0700 -o <user> {path} (or set SESSIONS_DIR)",
                )
            return CheckResult(
                name=name, status=Status.OK, detail=f"{path} will be created (mode 0700) when the bot starts"
            )
        info = path.stat()
        if not stat.S_ISDIR(info.st_mode):
            return CheckResult(name=name, status=Status.FAIL, detail=f"{path} is not a folder", fix="set SESSIONS_DIR")
        if info.st_uid != uid:
            return CheckResult(
                name=name,
                status=Status.FAIL,
                detail=f"{path} belongs to uid {info.st_uid}, not to this user (uid {uid})",
                fix=f"run doctor as the bot's user, or give it the folder: chown -R <user>: {path}",
            )
        if not os.access(path, os.W_OK | os.X_OK):
            return CheckResult(
                name=name, status=Status.FAIL, detail=f"{path} is not writable by its owner", fix=f"chmod 700 {path}"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            return CheckResult(
                name=name,
                status=Status.WARN,
                detail=f"{path} has mode {mode:04o}: other users can read the WhatsApp session "
                "(the bot closes it when it starts)",
                fix=f"chmod 700 {path}",
            )
    return CheckResult(name=name, status=Status.OK, detail=f"{path} is private (0700) and belongs to uid {uid}")


def check_disk(path: Path) -> CheckResult:
    """Free space where the profile lives."""
    where = _existing_parent(path)
    usage = shutil.disk_usage(where)
    return disk_verdict(usage.free, where)


def disk_verdict(free_bytes: int, where: Path) -> CheckResult:
    name = "disk space"
    detail = f"{free_bytes / 1024**3:.1f} GB free at {where}"
    fix = "free some space (journalctl --vacuum-size=200M, old backups) or grow the disk"
    if free_bytes < DISK_FAIL_BELOW:
        return CheckResult(name=name, status=Status.FAIL, detail=detail, fix=fix)
    if free_bytes < DISK_WARN_BELOW:
        return CheckResult(name=name, status=Status.WARN, detail=detail, fix=fix)
    return CheckResult(name=name, status=Status.OK, detail=detail)


def ntp_synchronized(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> bool | None:
    """What `timedatectl` says about NTP; None when it cannot tell (no systemd, e.g. in a container)."""
    try:
        result = run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=TIMEDATECTL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = result.stdout.strip()
    if result.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


def clock_verdict(now: datetime, synchronized: bool | None) -> CheckResult:
    """WhatsApp's TLS and sessions, message times and reply ages all need a clock that is about right."""
    name = "clock"
    shown = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if now.year < EARLIEST_PLAUSIBLE_YEAR:
        return CheckResult(
            name=name,
            status=Status.FAIL,
            detail=f"the system clock says {shown}: it was never set",
            fix="turn on time synchronisation: sudo timedatectl set-ntp true (or install chrony)",
        )
    if synchronized is False:
        return CheckResult(
            name=name,
            status=Status.WARN,
            detail=f"{shown}, not synchronised with NTP",
            fix="sudo timedatectl set-ntp true (or install chrony / systemd-timesyncd)",
        )
    sync = "synchronised with NTP" if synchronized else "NTP state unknown (no timedatectl answer)"
    return CheckResult(name=name, status=Status.OK, detail=f"{shown}, {sync}")


def check_clock() -> CheckResult:
    return clock_verdict(datetime.now(UTC), ntp_synchronized())


async def run_checks(settings: Settings, *, check_gemini_key: bool) -> list[CheckResult]:
    """Every check, in the order they are printed; the slow ones (Chromium, the network) run together."""
    chromium, mongodb, gemini = await asyncio.gather(
        check_chromium(settings), check_mongodb(settings), check_gemini(settings, call=check_gemini_key)
    )
    return [
        chromium,
        check_wa_js(settings),
        mongodb,
        gemini,
        check_profile(settings),
        check_disk(settings.sessions_dir),
        check_clock(),
    ]


def format_report(results: list[CheckResult]) -> str:
    failed = sum(result.status is Status.FAIL for result in results)
    warned = sum(result.status is Status.WARN for result in results)
    summary = "all good" if not failed and not warned else f"{failed} to fix, {warned} worth a look"
    return "\n".join([*(result.line() for result in results), "", summary])


async def doctor(args: argparse.Namespace, settings: Settings) -> None:
    results = await run_checks(settings, check_gemini_key=args.check_gemini)
    print(format_report(results), flush=True)
    failed = [result.name for result in results if result.status is Status.FAIL]
    if failed:
        raise StartupError(f"doctor: {', '.join(failed)} must be fixed first (see above)")


def _package_version(bundle: Path) -> str | None:
    """The version in the package.json of the npm package the bundle belongs to."""
    for folder in bundle.resolve().parents:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                package = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            version = package.get("version") if package.get("name") == WA_JS_PACKAGE else None
            return str(version) if version else None
    return None


def _pinned_version(manifest: Path) -> str | None:
    try:
        pinned = json.loads(manifest.read_text(encoding="utf-8"))["dependencies"][WA_JS_PACKAGE]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(pinned)


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check the set-up (Chromium, wa-js, MongoDB, Gemini key, profile folder, disk, clock) and say what "
        "to fix; exit 3 if something must be fixed",
    )
    parser.add_argument(
        "--check-gemini", action="store_true", help="also try the Gemini key (a model lookup, no tokens spent)"
    )
    parser.set_defaults(handler=doctor)
