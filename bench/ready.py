"""Time to ready: `run_bot.py run` as its own process on an already-linked profile, until systemd's READY=1.

The profile is linked in a first run (its login is kept in the browser profile); the second start is measured,
from spawning the process to READY=1 and to the "connected" status on $NOTIFY_SOCKET. It uses the run's store, in
a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.simulator_process import SimulatorProcess
from bot.settings import PROJECT_ROOT, Settings
from bot.simulator.client import SimulatorClient

TIMEOUT_S = 90.0
CONNECTED = "STATUS=WhatsApp connected"


@dataclass(frozen=True)
class Store:
    """Where the measured daemon keeps its data: the run's store, a database of its own."""

    uri: str
    database: str


def _env(folder: Path, simulator: SimulatorProcess, store: Store, notify_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(
        ACCOUNT="ready",
        SESSIONS_DIR=str(folder / "sessions"),
        MONGODB_URI=store.uri,
        MONGODB_DATABASE=store.database,
        GEMINI_API_KEY="bench",
        GEMINI_BASE_URL=simulator.gemini_base_url,
        WHATSAPP_URL=simulator.base_url,
        STATUS_PORT="0",
        LOG_LEVEL="WARNING",
        LOGIN_QR_TEXT="false",
        PERSONAS_DIR=str(PROJECT_ROOT / "config" / "personas"),
        NOTIFY_SOCKET=str(notify_path),
    )
    env.pop("WATCHDOG_USEC", None)
    return env


async def _start_until(
    folder: Path, simulator: SimulatorProcess, sim: SimulatorClient, store: Store, *, link: bool
) -> dict[str, float]:
    """Start the daemon, link it if asked, note when READY=1 and "connected" arrive, then stop it."""
    folder.mkdir(parents=True, exist_ok=True)
    notify_path = folder / f"notify-{time.monotonic_ns()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(notify_path))
    receiver.setblocking(False)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_ROOT / "run_bot.py"),
        "run",
        cwd=folder,
        env=_env(folder, simulator, store, notify_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    times: dict[str, float] = {}
    try:
        async with asyncio.timeout(TIMEOUT_S):
            linking = asyncio.create_task(_link(sim)) if link else None
            while CONNECTED not in times:
                message = (await loop.sock_recv(receiver, 4096)).decode()
                now = time.perf_counter() - started
                if "READY=1" in message.splitlines():
                    times.setdefault("READY=1", now)
                if any(line.startswith(CONNECTED) for line in message.splitlines()):
                    times[CONNECTED] = now
            if linking is not None:
                await linking
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        receiver.close()
    return times


async def _link(sim: SimulatorClient) -> None:
    async with sim.phone("15550400000") as phone:
        await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, TIMEOUT_S)
    await sim.link()


async def time_to_ready(
    folder: Path, simulator: SimulatorProcess, sim: SimulatorClient, store: Store
) -> dict[str, float]:
    """Seconds from spawning the process to READY=1 and to connected, on a profile linked beforehand."""
    await _start_until(folder, simulator, sim, store, link=True)
    times = await _start_until(folder, simulator, sim, store, link=False)
    return {"ready_s": round(times["READY=1"], 2), "connected_s": round(times[CONNECTED], 2)}
