"""Fixtures that start the real daemon (Application) with real headless Chromium against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.app import Application
from bot.settings import MEMORY_URI, PROJECT_ROOT, UNPACED, Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import GONE_OUT, Database, Direction
from bot.whatsapp import ConnectionState, StateChange
from bot.whatsapp.profile import chromium_pids

from ..waiting import wait_until

__all__ = ["wait_until"]  # the e2e tests import it from here, with the rest of their helpers

READY_TIMEOUT_S = 20.0
REPLY_TIMEOUT_S = 30.0
RECOVERY_TIMEOUT_S = 60.0
ANA = "15551234567"
BEN = "15551230002"
CARO = "15551230003"

StartDaemon = Callable[[Settings], Awaitable[Application]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture
def daemon_settings(simulator: Simulator, tmp_path: Path, mongodb_uri: str) -> Settings:
    """Settings of a daemon that talks only to the simulator: its page, its fake Gemini, 127.0.0.1."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        account="e2e",
        sessions_dir=tmp_path / "sessions",
        whatsapp_url=simulator.base_url,
        gemini_base_url=simulator.gemini_base_url,
        gemini_api_key="test-key",  # type: ignore[arg-type]
        mongodb_uri=mongodb_uri,
        mongodb_database=f"e2e_{uuid.uuid4().hex[:12]}",
        personas_dir=PROJECT_ROOT / "config" / "personas",
        ai_timeout_s=10.0,
        shutdown_timeout_s=10.0,
        status_port=0,  # any free port: daemons of one test (and this machine's own bot) never collide
        # Answer at once, no limits: the tests of traffic control turn these on themselves.
        **UNPACED,  # type: ignore[arg-type]
    )


@pytest.fixture
async def start_daemon() -> AsyncIterator[StartDaemon]:
    """Starts daemons; every one still running is stopped (browser closed) after the test."""
    running: list[Application] = []

    async def start(settings: Settings) -> Application:
        app = Application(settings)
        await app.__aenter__()
        running.append(app)
        return app

    yield start
    for app in running:
        await app.stop()
        # Through a client of its own: the app's is closed by now, also when the test stopped the app itself.
        settings = app.settings
        if settings.mongodb_uri and not settings.mongodb_uri.startswith(MEMORY_URI):
            db = await Database.connect(settings.mongodb_uri, settings.mongodb_database)
            try:
                await db.drop()
            finally:
                await db.close()


@pytest.fixture
def fault_settings(daemon_settings: Settings) -> Settings:
    """A daemon that notices faults within a second or two, so each fault test takes seconds, not minutes."""
    return daemon_settings.model_copy(
        update={
            "whatsapp_probe_interval_s": 1.0,
            "whatsapp_probe_timeout_s": 2.0,
            "whatsapp_retry_initial_s": 0.2,
            "whatsapp_retry_max_s": 1.0,
            "whatsapp_ready_timeout_s": 5.0,
            "whatsapp_action_timeout_s": 5.0,
        }
    )


class StateLog:
    """Every connection state change of one daemon, in order, with a condition to wait on."""

    def __init__(self, app: Application) -> None:
        assert app.whatsapp is not None
        self.changes: list[StateChange] = []
        self._changed = asyncio.Condition()
        self._loop = asyncio.get_running_loop()
        app.whatsapp.subscribe(self._record)

    def _record(self, change: StateChange) -> None:
        self.changes.append(change)
        self._loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def mark(self) -> int:
        """A position in the log: `since(mark)` is what happened after it."""
        return len(self.changes)

    def since(self, mark: int) -> list[ConnectionState]:
        return [change.current for change in self.changes[mark:]]

    async def wait_for(self, state: ConnectionState, *, after: int = 0, timeout_s: float = READY_TIMEOUT_S) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: state in self.since(after))


StartWatched = Callable[[Settings], Awaitable[tuple[Application, StateLog]]]


@pytest.fixture
def start_at_login(start_daemon: StartDaemon) -> StartWatched:
    """Starts a daemon with its state log and waits until it shows the login screen."""

    async def start(settings: Settings) -> tuple[Application, StateLog]:
        app = await start_daemon(settings)
        log = StateLog(app)
        assert app.whatsapp is not None
        await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
        return app, log

    return start


@pytest.fixture
def start_linked(sim: SimulatorClient, start_at_login: StartWatched) -> StartWatched:
    """Starts a daemon with its state log, links the phone and waits until it is connected."""

    async def start(settings: Settings) -> tuple[Application, StateLog]:
        app, log = await start_at_login(settings)
        await sim.link()
        assert app.whatsapp is not None
        await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
        return app, log

    return start


@pytest.fixture
async def linked(start_linked: StartWatched, fault_settings: Settings) -> tuple[Application, StateLog]:
    """A daemon with fast fault detection, linked to the phone and connected, with its state log."""
    return await start_linked(fault_settings)


async def replies_cover(sim: SimulatorClient, number: str, texts: list[str]) -> bool:
    """Whether the replies sent to `number` so far answer all of `texts` (see assert_covered_once)."""
    replies = " ".join(reply.text for reply in await sim.sent(to=number))
    return all(text in replies for text in texts)


def assert_covered_once(texts: list[str], replies: list[str]) -> None:
    """Each text is answered by exactly one reply (the offline model quotes what it answers; one reply may answer
    several texts sent close together), and no reply answers nothing of ours."""
    for text in texts:
        answers = [reply for reply in replies if text in reply]
        assert len(answers) == 1, f"{text!r} was answered {len(answers)} times: {replies}"
    for reply in replies:
        assert any(text in reply for text in texts), f"a reply answers none of {texts}: {reply!r}"


async def assert_each_answered_once(app: Application, sim: SimulatorClient, number: str, texts: list[str]) -> None:
    """Every text got exactly one reply, and nothing else was sent."""
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    assert_covered_once(texts, [reply.text for reply in await sim.sent(to=number)])


async def answered_across(
    app: Application,
    sim: SimulatorClient,
    log: StateLog,
    fault: Callable[[], Awaitable[object]],
    *,
    noticed: ConnectionState,
    name: str,
) -> int:
    """Ana writes before, during and after `fault`, which the bot must notice (`noticed`) and recover from:
    each message is answered exactly once. Returns the state log's mark taken just before the fault."""
    assert app.whatsapp is not None
    texts = [f"before the {name}", f"during the {name}", f"after the {name}"]
    async with sim.phone(ANA) as phone:
        await sim.send(ANA, texts[0], name="Ana")
        await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
        mark = log.mark()
        await fault()
        await sim.send(ANA, texts[1], name="Ana")
        await log.wait_for(noticed, after=mark)
        await app.whatsapp.wait_until_connected(RECOVERY_TIMEOUT_S)
        await sim.send(ANA, texts[2], name="Ana")
        await wait_until(lambda: replies_cover(sim, ANA, texts), RECOVERY_TIMEOUT_S)
    await assert_each_answered_once(app, sim, ANA, texts)
    return mark


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def browser_processes(profile_dir: Path, kind: str | None = None) -> list[int]:
    """Pids of the daemon's Chromium on this profile: the browser itself (kind None) or its helpers by --type."""
    wanted = b"--type=" + kind.encode() if kind else None
    pids = []
    for pid in chromium_pids(profile_dir):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if (wanted is None and b"--type=" not in cmdline) or (wanted is not None and wanted in cmdline):
            pids.append(pid)
    return pids


async def answered_once(sim: SimulatorClient, db: Database, texts: dict[str, list[str]]) -> None:
    """Each text got exactly one reply (see assert_covered_once), and the store says so too: every message
    stored once and settled, every reply that went out recorded."""

    async def all_answered() -> bool:
        return all([await replies_cover(sim, number, sent_texts) for number, sent_texts in texts.items()])

    await wait_until(all_answered, RECOVERY_TIMEOUT_S)
    for number, sent_texts in texts.items():
        replies = [reply.text for reply in await sim.sent(to=number)]
        assert_covered_once(sent_texts, replies)
        stored = await db.messages.for_contact(f"{number}@c.us")
        inbound = [m for m in stored if m.direction is Direction.INBOUND]
        assert sorted(m.text for m in inbound) == sorted(sent_texts)

        async def settled(number: str = number) -> bool:
            messages = await db.messages.for_contact(f"{number}@c.us")
            return all(m.status in GONE_OUT for m in messages if m.direction is Direction.INBOUND)

        await wait_until(settled, REPLY_TIMEOUT_S)
        # Nothing went out that is not recorded as gone out.
        recorded = [
            m.text
            for m in await db.messages.for_contact(f"{number}@c.us")
            if m.direction is Direction.OUTBOUND and m.status in GONE_OUT
        ]
        assert sorted(recorded) == sorted(replies), (recorded, replies)


async def gemini_calls_reach(sim: SimulatorClient, count: int) -> None:
    async def reached() -> bool:
        return len(await sim.gemini_requests()) >= count

    await wait_until(reached, REPLY_TIMEOUT_S)


async def has_replies(sim: SimulatorClient, number: str, count: int) -> bool:
    return len(await sim.sent(to=number)) >= count
