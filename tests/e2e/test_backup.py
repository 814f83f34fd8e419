"""Moving an account to a new server: the browser session backed up into MongoDB (GridFS), the profile folder
wiped, the session restored, and the daemon comes back connected without a new link. Needs GridFS, so a real
server: the wire lane runs it."""

from __future__ import annotations

import shutil

import pytest

from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Database
from bot.whatsapp import ConnectionState
from bot.whatsapp.profile import chromium_pids
from bot.whatsapp.profile_backup import backup_profile, restore_profile, session_files

from .conftest import ANA, READY_TIMEOUT_S, REPLY_TIMEOUT_S, StartDaemon, StartWatched, has_replies, wait_until

pytestmark = pytest.mark.mongodb


async def test_a_restored_session_needs_no_new_link(
    sim: SimulatorClient, start_linked: StartWatched, start_daemon: StartDaemon, daemon_settings: Settings
) -> None:
    settings = daemon_settings
    profile = settings.profile_dir
    first, _ = await start_linked(settings)  # the one and only sim.link()
    await first.stop()
    await wait_until(lambda: not chromium_pids(profile), READY_TIMEOUT_S)
    assert settings.mongodb_uri is not None
    db = await Database.connect(settings.mongodb_uri, settings.mongodb_database)
    try:
        backup = await backup_profile(db, profile, settings.account)
        # The caches stay behind: what is archived is a small part of the profile.
        assert backup.session_bytes < backup.profile_bytes / 4, backup
        shutil.rmtree(profile)
        await restore_profile(db, profile, settings.account)
    finally:
        await db.close()
    assert not (profile / "Default" / "Cache").exists()
    assert session_files(profile)

    second = await start_daemon(settings)
    assert second.whatsapp is not None
    state = await second.whatsapp.wait_for_state(
        ConnectionState.NEEDS_LOGIN, ConnectionState.CONNECTED, timeout_s=READY_TIMEOUT_S
    )
    assert state is ConnectionState.CONNECTED, "the restored profile should carry the link"
    await sim.send(ANA, "Still there after the move?", name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)
