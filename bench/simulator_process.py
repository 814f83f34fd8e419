"""The simulator (fake WhatsApp Web and fake Gemini) in its own process, so that the benchmark's CPU time and
resident memory are the daemon's and not the simulator's too.

`python -m bot.simulator --port P` on a free port of 127.0.0.1, its output in a log file (shown when it fails to
start); ready once its control API answers; SIGTERM on exit, SIGKILL if it does not stop in time.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from types import TracebackType

import aiohttp

from bot.settings import PROJECT_ROOT

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A port nobody listens on now (the simulator binds it a moment later; nothing else here competes)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SimulatorProcess:
    """`async with SimulatorProcess(folder) as simulator:` runs the simulator until the block ends."""

    def __init__(self, folder: Path, *, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.log_path = folder / "simulator.log"
        self.port = 0
        self._start_timeout_s = start_timeout_s
        self._process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        """The fake web.whatsapp.com and the control API, with a trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def gemini_base_url(self) -> str:
        return self.base_url + "gemini/"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the simulator is not running")
        return self._process.pid

    async def __aenter__(self) -> SimulatorProcess:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.simulator",
                "--port",
                str(self.port),
                cwd=PROJECT_ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            await self._until_answering()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _until_answering(self) -> None:
        """Poll GET /api/status: the process offers no event for "listening"."""
        assert self._process is not None
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                async with asyncio.timeout(self._start_timeout_s):
                    while True:
                        if self._process.returncode is not None:
                            raise RuntimeError(f"exited with code {self._process.returncode}")
                        try:
                            async with http.get(self.base_url + "api/status") as response:
                                if response.status == 200:
                                    return
                        except (aiohttp.ClientError, TimeoutError):
                            pass
                        await asyncio.sleep(POLL_S)
            except (RuntimeError, TimeoutError) as error:
                reason = str(error) or f"no answer within {self._start_timeout_s:g} s"
                raise RuntimeError(f"the simulator did not start ({reason}); its log:\n{self._log_tail()}") from error

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return "(no log)"

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
