"""The simulator in its own process: started until its control API answers, stopped on exit."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bench import simulator_process
from bench.simulator_process import SimulatorProcess
from bot.simulator.client import SimulatorClient


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_it_serves_in_another_process_and_stops_on_exit(tmp_path: Path) -> None:
    async with SimulatorProcess(tmp_path) as simulator:
        pid = simulator.pid
        assert pid != os.getpid() and _alive(pid)
        assert simulator.gemini_base_url == simulator.base_url + "gemini/"
        async with SimulatorClient(simulator.base_url) as sim:
            assert (await sim.status())["linked"] is False
            assert await sim.pushed() == {}
    assert not _alive(pid)
    assert "listening on" in (tmp_path / "simulator.log").read_text()


async def test_a_simulator_that_cannot_start_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(simulator_process, "free_port", lambda: taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="did not start") as failure:
            async with SimulatorProcess(tmp_path, start_timeout_s=20.0):
                pass
    assert "address already in use" in str(failure.value).lower()
