"""`run_bot.py demo` as a new user runs it: it answers, and Ctrl-C stops everything, browser included."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bot.simulator.client import SimulatorClient
from bot.whatsapp.profile import chromium_pids

from ..cli_helpers import RUN_BOT, clean_env, free_port
from .conftest import READY_TIMEOUT_S, REPLY_TIMEOUT_S

ANA = "15551234567"


async def read_line_with(stream: asyncio.StreamReader, text: str, timeout_s: float) -> str:
    async with asyncio.timeout(timeout_s):
        while line := (await stream.readline()).decode():
            if text in line:
                return line
    raise AssertionError(f"the demo ended without printing {text!r}")


async def test_demo_answers_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "demo.log").open("wb") as log:
        demo = await asyncio.create_subprocess_exec(
            sys.executable, RUN_BOT, "demo", "--port", str(port),
            cwd=tmp_path, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    try:
        assert demo.stdout is not None
        line = await read_line_with(demo.stdout, "play a contact", READY_TIMEOUT_S)
        assert line.strip().endswith(f"http://127.0.0.1:{port}/phone")

        async with SimulatorClient(f"http://127.0.0.1:{port}/") as sim, sim.phone(ANA) as phone:
            await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, READY_TIMEOUT_S)
            await sim.link()
            await phone.wait_for_status(lambda status: status["ready_pages"] >= 1, READY_TIMEOUT_S)
            await sim.send(ANA, "Hello demo, when is Maria's office open?", name="Ana")
            [reply] = await phone.wait_for_replies(1, REPLY_TIMEOUT_S)
        assert "Hello demo, when is Maria's office open?" in reply.text
        # The demo's sample data at work: Ana is Maria's sister (the family sign-off), the assistant persona
        # speaks, and the office hours come from the sample knowledge file.
        assert "Hi Ana!" in reply.text and "This is Sam" in reply.text and "Lots of love!" in reply.text
        assert "Monday to Friday, 9:00 to 18:00" in reply.text

        profile = tmp_path / "sessions" / "demo"
        assert chromium_pids(profile), "the bot's browser should be running"
        demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            assert await demo.wait() == 0
        assert chromium_pids(profile) == []
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
