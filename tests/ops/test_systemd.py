"""sd_notify spoken to a datagram socket the test binds, as systemd does for `Type=notify` services."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ops.systemd import STANDBY_MARGIN_S, Notifier, SystemdHealth, watchdog_interval_s
from bot.whatsapp import ConnectionState, StateChange

RECEIVE_TIMEOUT_S = 5.0


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address  # what goes into NOTIFY_SOCKET

    async def receive(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> str:
        async with asyncio.timeout(timeout_s):
            return (await asyncio.get_running_loop().sock_recv(self.sock, 4096)).decode()

    def pending(self) -> list[str]:
        messages = []
        while True:
            try:
                messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return messages


def bind(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    return sock


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    path = tmp_path / "notify"
    with bind(str(path)) as sock:
        yield FakeSystemd(sock, str(path))


def change(current: ConnectionState, previous: ConnectionState = ConnectionState.LOADING) -> StateChange:
    return StateChange(previous=previous, current=current, reason="because")


async def test_messages_reach_a_socket_path(systemd: FakeSystemd) -> None:
    notifier = Notifier(systemd.address)
    assert notifier.ready("WhatsApp\nconnected")
    assert await systemd.receive() == "READY=1\nSTATUS=WhatsApp connected"  # no newline inside a field
    notifier.watchdog()
    assert await systemd.receive() == "WATCHDOG=1"
    notifier.stopping()
    assert await systemd.receive() == "STOPPING=1\nSTATUS=stopping"


async def test_an_abstract_socket_is_written_with_an_at_sign() -> None:
    name = f"whatsapp-bot-test-{uuid.uuid4().hex}"
    with bind(b"\0" + name.encode()) as sock:
        assert Notifier(f"@{name}").status("up")
        assert await FakeSystemd(sock, f"@{name}").receive() == "STATUS=up"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready("up") and not notifier.watchdog()


def test_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.enabled
    assert not notifier.watchdog()
    assert not notifier.watchdog()  # warned once, still quiet


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000"}) == 60.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 1.0
    # systemd expects the pings from another process (we were started by a wrapper): not ours to send.
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, pid=4242) is None


async def test_ready_once_the_connection_settles_then_status_on_every_change(systemd: FakeSystemd) -> None:
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=None)
    health.on_state(change(ConnectionState.LOADING, ConnectionState.STARTING))
    assert await systemd.receive() == "STATUS=WhatsApp loading: because"
    assert not health.ready_sent

    health.on_state(change(ConnectionState.NEEDS_LOGIN))
    assert await systemd.receive() == "READY=1\nSTATUS=WhatsApp needs-login: because"

    health.on_state(change(ConnectionState.SYNCING, ConnectionState.NEEDS_LOGIN))
    health.on_state(change(ConnectionState.CONNECTED, ConnectionState.SYNCING))
    assert await systemd.receive() == "STATUS=WhatsApp syncing: because"
    assert await systemd.receive() == "STATUS=WhatsApp connected: because"  # READY=1 was said once


async def test_a_standby_pushes_the_start_timeout_past_its_next_try(systemd: FakeSystemd) -> None:
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=None)
    health.standby("standby: account acme is driven by other:1:ab", 10.0)
    extend_us = int((10.0 + STANDBY_MARGIN_S) * 1e6)
    expected = f"EXTEND_TIMEOUT_USEC={extend_us}\nSTATUS=standby: account acme is driven by other:1:ab"
    assert await systemd.receive() == expected
    assert not health.ready_sent


async def test_connected_at_once_is_ready(systemd: FakeSystemd) -> None:
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=None)
    health.on_state(change(ConnectionState.CONNECTED, ConnectionState.SYNCING))
    assert (await systemd.receive()).startswith("READY=1\n")


async def test_the_watchdog_is_fed_from_the_event_loop_until_closed(systemd: FakeSystemd) -> None:
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=0.02)
    health.start()
    assert health.feeding_watchdog
    for _ in range(3):
        assert await systemd.receive() == "WATCHDOG=1"
    await health.close()
    assert not health.feeding_watchdog


async def test_a_hung_event_loop_sends_no_pings(systemd: FakeSystemd) -> None:
    """The point of feeding the watchdog from the loop: while the loop is blocked, systemd hears nothing."""
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=0.01)
    health.start()
    assert await systemd.receive() == "WATCHDOG=1"  # the first ping, from the running loop
    blocked = socket.socketpair()
    with blocked[0], blocked[1]:
        blocked[0].settimeout(0.3)
        with pytest.raises(TimeoutError):
            blocked[0].recv(1)  # a synchronous call that holds the loop for 0.3 s
    assert systemd.pending() == []  # nothing was sent while the loop was held
    await health.close()


async def test_no_watchdog_task_without_a_watchdog(systemd: FakeSystemd) -> None:
    health = SystemdHealth(Notifier(systemd.address), watchdog_s=None)
    health.start()
    assert not health.feeding_watchdog
    health = SystemdHealth(Notifier(None), watchdog_s=1.0)
    health.start()
    assert not health.feeding_watchdog
