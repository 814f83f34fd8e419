"""The real daemon under a fake systemd: READY=1 when WhatsApp waits for the phone, the watchdog fed, STOPPING=1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from .conftest import READY_TIMEOUT_S, StartDaemon, wait_until

WATCHDOG_USEC = 200_000  # systemd's WatchdogSec=0.2: the daemon pings every 0.1 s


class NotifySocket:
    """What systemd receives on $NOTIFY_SOCKET, in order."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.messages.append((await loop.sock_recv(self.sock, 4096)).decode())

    def index(self, field: str, start: int = 0) -> int | None:
        """Position of the first message from `start` on that carries `field` (a whole line), or None."""
        for position in range(start, len(self.messages)):
            if field in self.messages[position].splitlines():
                return position
        return None

    def count(self, field: str, start: int = 0) -> int:
        return sum(field in message.splitlines() for message in self.messages[start:])


@pytest.fixture
async def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NotifySocket]:
    receiver = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    reader = asyncio.create_task(receiver.read())
    try:
        yield receiver
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        receiver.sock.close()


async def test_daemon_notifies_systemd(
    notify: NotifySocket, sim: SimulatorClient, start_daemon: StartDaemon, daemon_settings: Settings
) -> None:
    app = await start_daemon(daemon_settings)
    assert app.whatsapp is not None

    await wait_until(lambda: notify.index("READY=1") is not None, READY_TIMEOUT_S)
    ready = notify.index("READY=1")
    assert ready is not None
    assert "STATUS=WhatsApp needs-login: waiting for the phone to link this device" in notify.messages[ready]
    assert app.whatsapp.state is ConnectionState.NEEDS_LOGIN  # up for systemd: waiting for the operator
    # Start-up said where it stood before (starting, loading), without READY=1.
    assert any(message.startswith("STATUS=WhatsApp loading") for message in notify.messages[:ready])

    # The watchdog keeps being fed while the daemon runs.
    await wait_until(lambda: notify.count("WATCHDOG=1", ready) >= 5, READY_TIMEOUT_S)

    await sim.link()
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    await wait_until(
        lambda: notify.index("STATUS=WhatsApp connected: linked, main-ready and the stream is up") is not None
    )
    assert notify.count("READY=1") == 1

    pings = notify.count("WATCHDOG=1")
    await wait_until(lambda: notify.count("WATCHDOG=1") > pings + 2, READY_TIMEOUT_S)

    await app.stop()
    await wait_until(lambda: notify.index("STOPPING=1") is not None)
    stopping = notify.index("STOPPING=1")
    assert stopping is not None and stopping > ready
    assert not app._systemd.feeding_watchdog  # pings end with the stop
