"""systemd's notify protocol (`Type=notify`, `WatchdogSec=`), spoken directly: one datagram per message.

sd_notify needs no library: systemd passes a datagram socket in `$NOTIFY_SOCKET` (a path, or an abstract name
written with a leading "@") and reads newline-separated `KEY=VALUE` lines from it. Without the variable (a
terminal, the tests, `login`) every call here does nothing.

The daemon says READY=1 once the WhatsApp connection has settled (connected, or waiting for the phone: being
up and waiting for the operator is "started" for systemd), STATUS= with the connection state, WATCHDOG=1 from a
task on the event loop (a loop that hangs stops pinging and systemd restarts the service), and STOPPING=1 when
it begins to shut down.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

from loguru import logger

from bot.whatsapp.states import SETTLED_STATES, ConnectionState, StateChange

# READY=1 as soon as the connection stands somewhere restarting cannot improve: connected, waiting for a QR
# scan, and the other states that wait for a person (opened elsewhere, blocked, outdated). Were these "not
# started", TimeoutStartSec would restart the bot into the same state, and a restart in CONFLICT would take
# the session back from the other window.
READY_STATES = SETTLED_STATES


# How much longer than its next try a standby asks systemd to wait for it.
STANDBY_MARGIN_S = 30.0


class Notifier:
    """Sends notify messages to systemd; a no-op without a socket. Never raises: systemd is told, not asked."""

    def __init__(self, address: str | None) -> None:
        self.address = _socket_address(address)
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        return cls((os.environ if environ is None else environ).get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=VALUE` fields as one message; True if it was sent."""
        if self.address is None:
            return False
        try:
            # Non-blocking: if systemd's queue is full, a lost ping is better than a stalled event loop.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(fields).encode())
        except OSError as error:
            if not self._warned:  # once: a socket that is gone stays gone, and the log must not fill up
                logger.warning("cannot notify systemd at NOTIFY_SOCKET: {}", error)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={_one_line(status)}")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify("STOPPING=1", f"STATUS={_one_line(status)}")


def watchdog_interval_s(environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """How often to send WATCHDOG=1: half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises; None when
    systemd expects no pings, or expects them from another process (`$WATCHDOG_PID`)."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watchdog_pid = environ.get("WATCHDOG_PID", "")
    if watchdog_pid and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000 / 2


class SystemdHealth:
    """The daemon's side of `Type=notify`: READY once, STATUS on every connection change, the watchdog loop."""

    def __init__(self, notifier: Notifier, *, watchdog_s: float | None) -> None:
        self.notifier = notifier
        self.watchdog_s = watchdog_s
        self.ready_sent = False
        self._pinger: asyncio.Task[None] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SystemdHealth:
        return cls(Notifier.from_environ(environ), watchdog_s=watchdog_interval_s(environ))

    @property
    def feeding_watchdog(self) -> bool:
        return self._pinger is not None and not self._pinger.done()

    def start(self) -> None:
        """Start pinging the watchdog from the running event loop (nothing to do without a watchdog)."""
        if self.watchdog_s is None or not self.notifier.enabled or self._pinger is not None:
            return
        self._pinger = asyncio.get_running_loop().create_task(self._ping(self.watchdog_s), name="systemd:watchdog")
        logger.debug("feeding the systemd watchdog every {:g} s", self.watchdog_s)

    async def _ping(self, every_s: float) -> None:
        # The ping comes from the loop itself: if the loop hangs, the pings stop and systemd restarts us.
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(every_s)

    def on_state(self, change: StateChange) -> None:
        """A WhatsAppClient state handler."""
        status = f"WhatsApp {change.current.value}: {change.reason}"
        if not self.ready_sent and change.current in READY_STATES:
            self.ready_sent = True
            self.notifier.ready(status)
            if change.current is not ConnectionState.CONNECTED:
                logger.info("told systemd the bot is up: WhatsApp is {}", change.current.value)
        else:
            self.notifier.status(status)

    def standby(self, why: str, next_try_s: float) -> None:
        """Waiting for the account's lease: still starting, so systemd's start timeout is pushed past the next
        try (EXTEND_TIMEOUT_USEC) and the status says why, however long the holder keeps the account."""
        extend_us = int((next_try_s + STANDBY_MARGIN_S) * 1_000_000)
        self.notifier.notify(f"EXTEND_TIMEOUT_USEC={extend_us}", f"STATUS={_one_line(why)}")

    def stopping(self) -> None:
        self.notifier.stopping()

    async def close(self) -> None:
        """Stop the watchdog pings (the last step of a stop: systemd keeps watching while the bot shuts down)."""
        pinger, self._pinger = self._pinger, None
        if pinger is not None:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)


def _socket_address(address: str | None) -> str | None:
    if not address:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]  # Linux abstract namespace
    if address.startswith("/"):
        return address
    logger.warning("NOTIFY_SOCKET={!r} is not a socket path this bot understands; systemd is not notified", address)
    return None


def _one_line(text: str) -> str:
    # One message is newline-separated KEY=VALUE lines: a newline in the status would start a bogus field.
    return " ".join(text.split())
