"""Linking a headless server: a QR code refreshed as WhatsApp rotates it, a bounded wait, and a pairing code."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from bot.errors import NeedsOperator
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.whatsapp import ConnectionState

from ..cli_helpers import RUN_BOT, clean_env
from .conftest import READY_TIMEOUT_S, StartDaemon, wait_until

PAIRING_CODE = re.compile(r"Pairing code: ([A-Z0-9]{4}-[A-Z0-9]{4})")


async def test_the_qr_follows_rotation_and_idle_then_the_wait_ends(
    sim: SimulatorClient, start_daemon: StartDaemon, fault_settings: Settings
) -> None:
    app = await start_daemon(fault_settings.model_copy(update={"login_max_qr_rounds": 2}))
    assert app.whatsapp is not None
    png = fault_settings.qr_png_path
    await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
    first = png.read_bytes()

    await sim.rotate_qr()
    await wait_until(lambda: png.exists() and png.read_bytes() != first)
    second = png.read_bytes()

    # WhatsApp stops rotating ("click to reload QR code"): the bot asks for a new code, and shows it.
    await sim.qr_idle()
    await wait_until(lambda: png.exists() and png.read_bytes() not in (first, second))
    assert app.whatsapp.state is ConnectionState.NEEDS_LOGIN

    # The second expiry is the last one allowed: the bot stops waiting, and no stale code lies around.
    await sim.qr_idle()
    with pytest.raises(NeedsOperator, match="LOGIN_MAX_QR_ROUNDS=2"):
        async with asyncio.timeout(READY_TIMEOUT_S):
            await app.wait_failed()
    assert not png.exists()


async def test_login_with_a_pairing_code_links_the_profile(
    tmp_path: Path, simulator: Simulator, sim: SimulatorClient, start_daemon: StartDaemon, fault_settings: Settings
) -> None:
    env = clean_env(
        WHATSAPP_URL=simulator.base_url,
        SESSIONS_DIR=str(fault_settings.sessions_dir),
        ACCOUNT=fault_settings.account,
    )
    login = await asyncio.create_subprocess_exec(
        sys.executable, RUN_BOT, "login", "--phone", "+1 555 000-0000", "--timeout", "60",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert login.stdout is not None
        async with asyncio.timeout(READY_TIMEOUT_S * 2):
            while not (match := PAIRING_CODE.search((await login.stdout.readline()).decode())):
                assert not login.stdout.at_eof(), "login ended without printing a pairing code"
        await sim.link(code=match.group(1))  # the operator types it on the phone
        async with asyncio.timeout(READY_TIMEOUT_S):
            stdout, stderr = await login.communicate()
        assert login.returncode == 0, stderr.decode()
        assert "Linked" in stdout.decode()
        assert "Traceback" not in stderr.decode()
    finally:
        if login.returncode is None:
            login.kill()
            await login.wait()

    # The service starts on that profile without any QR code.
    app = await start_daemon(fault_settings)
    assert app.whatsapp is not None
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    assert not fault_settings.qr_png_path.exists()
