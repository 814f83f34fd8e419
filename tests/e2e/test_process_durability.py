"""`run_bot.py run` as a real process, killed with SIGKILL or stopped with SIGTERM mid-reply, restarted on the
same database: every message is answered exactly once. Needs a database that outlives the process, so these
run only with TEST_MONGODB_URI (a real server, or mongoeco through ./scripts/test-wire.sh)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import Database

from ..cli_helpers import RUN_BOT, clean_env
from .conftest import (
    ANA,
    BEN,
    CARO,
    READY_TIMEOUT_S,
    answered_once,
    browser_processes,
    gemini_calls_reach,
    has_replies,
    wait_until,
)

pytestmark = pytest.mark.mongodb


class BotProcess:
    """The daemon as systemd runs it: its own process group, so SIGKILL takes the browser with it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = env
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with (self._cwd / "bot.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, RUN_BOT, "run", cwd=self._cwd, env=self._env,
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        if signum is signal.SIGKILL:
            os.killpg(self.process.pid, signum)  # the whole group, as systemd's KillMode does after a crash
        else:
            self.process.send_signal(signum)

    async def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout_s):
            return await self.process.wait()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.signal(signal.SIGKILL)
            await self.process.wait()


@pytest.fixture
async def bot_env(simulator: Simulator, tmp_path: Path, db: Database, mongodb_uri: str) -> dict[str, str]:
    return clean_env(
        ACCOUNT="proc",
        SESSIONS_DIR=str(tmp_path / "sessions"),
        WHATSAPP_URL=simulator.base_url,
        GEMINI_BASE_URL=simulator.gemini_base_url,
        GEMINI_API_KEY="test-key",
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE=db.name,
        PERSONAS_DIR=str(PROJECT_ROOT / "config" / "personas"),
        SHUTDOWN_TIMEOUT_S="10",
        LOGIN_QR_TEXT="false",
        LOG_LEVEL="DEBUG",
    )


@pytest.fixture
async def processes(bot_env: dict[str, str], tmp_path: Path) -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        await bot.close()


async def start_bot(processes: list[BotProcess], env: dict[str, str], cwd: Path) -> BotProcess:
    bot = BotProcess(env, cwd)
    await bot.start()
    processes.append(bot)
    return bot


async def ready_pages(sim: SimulatorClient, count: int) -> None:
    async def reached() -> bool:
        return (await sim.status())["ready_pages"] == count

    await wait_until(reached, READY_TIMEOUT_S)


async def linked_bot(sim: SimulatorClient, processes: list[BotProcess], env: dict[str, str], cwd: Path) -> BotProcess:
    bot = await start_bot(processes, env, cwd)

    async def at_login() -> bool:
        status = await sim.status()
        return status["linked"] or status["qr_pages"] >= 1

    await wait_until(at_login, READY_TIMEOUT_S)
    if not (await sim.status())["linked"]:
        await sim.link()
    await ready_pages(sim, 1)
    return bot


async def test_kill_9_of_the_process_mid_reply_then_restart(
    sim: SimulatorClient, db: Database, bot_env: dict[str, str], processes: list[BotProcess], tmp_path: Path
) -> None:
    bot = await linked_bot(sim, processes, bot_env, tmp_path)
    await sim.send(BEN, "ben before the crash", name="Ben")
    await wait_until(lambda: has_replies(sim, BEN, 1))
    await sim.gemini_behaviour(delay_ms=30_000)
    await sim.send(ANA, "ana first", name="Ana")
    await sim.send(ANA, "ana second", name="Ana")
    await gemini_calls_reach(sim, 2)

    bot.signal(signal.SIGKILL)
    assert await bot.wait(READY_TIMEOUT_S) == -signal.SIGKILL
    await wait_until(lambda: not browser_processes(Path(bot_env["SESSIONS_DIR"]) / "proc"))
    await sim.gemini_behaviour()
    await sim.send(CARO, "caro while the bot is dead", name="Caro")

    second = await linked_bot(sim, processes, bot_env, tmp_path)
    await answered_once(
        sim,
        db,
        {ANA: ["ana first", "ana second"], BEN: ["ben before the crash"], CARO: ["caro while the bot is dead"]},
    )
    second.signal(signal.SIGTERM)
    assert await second.wait(30) == 0


async def test_sigterm_with_replies_in_flight_and_messages_arriving(
    sim: SimulatorClient, db: Database, bot_env: dict[str, str], processes: list[BotProcess], tmp_path: Path
) -> None:
    bot = await linked_bot(sim, processes, bot_env, tmp_path)
    await sim.gemini_behaviour(delay_ms=2000)
    await sim.send(ANA, "ana in flight", name="Ana")
    await sim.send(ANA, "ana queued", name="Ana")
    await sim.send(BEN, "ben in flight", name="Ben")
    await gemini_calls_reach(sim, 2)

    bot.signal(signal.SIGTERM)
    await sim.send(CARO, "caro while stopping", name="Caro")
    assert await bot.wait(30) == 0
    await sim.gemini_behaviour()

    second = await linked_bot(sim, processes, bot_env, tmp_path)
    await answered_once(
        sim, db, {ANA: ["ana in flight", "ana queued"], BEN: ["ben in flight"], CARO: ["caro while stopping"]}
    )
    second.signal(signal.SIGTERM)
    assert await second.wait(30) == 0
