"""Running `run_bot.py` as a real process, with none of the machine's bot settings leaking in."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import NamedTuple

from bot.settings import PROJECT_ROOT, Settings

RUN_BOT = str(PROJECT_ROOT / "run_bot.py")


def clean_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env["STATUS_PORT"] = "0"  # any free port, so that bots started by tests never collide
    env.update(settings)
    return env


class Finished(NamedTuple):
    code: int
    stdout: str
    stderr: str


async def run_bot(*args: str, cwd: Path, timeout_s: float = 60.0, **settings: str) -> Finished:
    """Run the command to completion, with these settings as its only ones."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        RUN_BOT,
        *args,
        cwd=cwd,
        env=clean_env(**settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Finished(process.returncode or 0, stdout.decode(), stderr.decode())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
