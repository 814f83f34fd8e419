"""Control of the wire lane's MongoDB server (scripts/test-wire.sh), for tests of a database that crashes,
comes back or stops answering. Such tests carry `@needs_server_control`: they are skipped in other lanes.

The server keeps its port and its data across a restart, so TEST_MONGODB_URI stays valid throughout.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from .waiting import wait_until

SERVER_CMD = os.environ.get("TEST_MONGODB_SERVER_CMD")
PIDFILE = Path(os.environ.get("TEST_MONGODB_SERVER_PIDFILE", "/nonexistent"))

needs_server_control = pytest.mark.skipif(
    not SERVER_CMD, reason="needs a MongoDB server the test can kill: run ./scripts/test-wire.sh"
)


def server_pid() -> int:
    return int(PIDFILE.read_text())


async def kill_server(timeout_s: float = 10.0) -> None:
    """SIGKILL, as a crash or the OOM killer would: no clean shutdown. Returns once the process is gone."""
    pid = server_pid()
    os.kill(pid, signal.SIGKILL)
    # A zombie (a server this process started and has not reaped) no longer listens either.
    await wait_until(lambda: not Path(f"/proc/{pid}").exists() or _is_zombie(pid), timeout_s)
    PIDFILE.unlink(missing_ok=True)


async def start_server(timeout_s: float = 30.0) -> None:
    """Starts the server again (same port, same data); returns once it listens. The lane stops it at the end."""
    assert SERVER_CMD, "not in the wire lane"
    process = subprocess.Popen(
        shlex.split(SERVER_CMD), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the MongoDB server exited with {process.returncode} on start")
        return PIDFILE.exists() and PIDFILE.read_text().strip() == str(process.pid)  # written once it listens

    await wait_until(listening, timeout_s)


def pause_server() -> None:
    """SIGSTOP: the port stays open but nothing answers, as with a hung server or a lost network path."""
    os.kill(server_pid(), signal.SIGSTOP)


def resume_server() -> None:
    os.kill(server_pid(), signal.SIGCONT)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
