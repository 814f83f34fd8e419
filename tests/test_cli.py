"""`run_bot.py` as the operator meets it: help, and refusing to start with one line saying what to fix."""

from __future__ import annotations

import re
from pathlib import Path

from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

from .cli_helpers import run_bot

FAKE_PASSWORD = "not-a-real-password"  # must never appear in what the bot prints


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    code, stdout, _ = await run_bot("--help", cwd=tmp_path)
    assert code == 0
    assert re.findall(r"^    (\w+) ", stdout, re.MULTILINE) == ["run", "demo"], stdout


def last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    return lines[-1]


async def test_run_refuses_without_mongodb(tmp_path: Path) -> None:
    code, _, stderr = await run_bot("run", cwd=tmp_path, GEMINI_API_KEY="k")
    assert code == 1
    assert last_line(stderr).startswith("error: MONGODB_URI is not set")


async def test_run_refuses_an_unreachable_mongodb_without_showing_its_password(tmp_path: Path) -> None:
    code, _, stderr = await run_bot(
        "run",
        cwd=tmp_path,
        GEMINI_API_KEY="k",
        MONGODB_URI="mongodb://bot:" + FAKE_PASSWORD + "@127.0.0.1:9/?directConnection=true",
        MONGODB_TIMEOUT_S="1",
    )
    assert code == 1
    assert last_line(stderr).startswith("error: MongoDB is unreachable at the configured MONGODB_URI")
    assert FAKE_PASSWORD not in stderr


async def test_run_refuses_without_a_gemini_key(tmp_path: Path) -> None:
    code, _, stderr = await run_bot("run", cwd=tmp_path, MONGODB_URI="memory://")
    assert code == 1
    assert last_line(stderr).startswith("error: GEMINI_API_KEY is not set")


async def test_run_refuses_when_gemini_rejects_the_key(
    tmp_path: Path, simulator: Simulator, sim: SimulatorClient
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=400)
    code, _, stderr = await run_bot(
        "run",
        cwd=tmp_path,
        MONGODB_URI="memory://",
        GEMINI_API_KEY="not-a-valid-key",
        GEMINI_BASE_URL=simulator.gemini_base_url,
        WHATSAPP_URL=simulator.base_url,
    )
    assert code == 1
    assert last_line(stderr).startswith("error: Gemini refused the API key or the model 'gemini-2.5-flash'")
    assert (await sim.status())["pages"] == []  # refused before opening a browser
