"""Fixtures that start the real daemon (Application) with real headless Chromium against the simulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.app import Application
from bot.settings import PROJECT_ROOT, Settings
from bot.simulator import Simulator

READY_TIMEOUT_S = 20.0
REPLY_TIMEOUT_S = 30.0

StartDaemon = Callable[[Settings], Awaitable[Application]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture
def daemon_settings(simulator: Simulator, tmp_path: Path, mongodb_uri: str) -> Settings:
    """Settings of a daemon that talks only to the simulator: its page, its fake Gemini, 127.0.0.1."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        account="e2e",
        sessions_dir=tmp_path / "sessions",
        whatsapp_url=simulator.base_url,
        gemini_base_url=simulator.gemini_base_url,
        gemini_api_key="test-key",  # type: ignore[arg-type]
        mongodb_uri=mongodb_uri,
        mongodb_database=f"e2e_{uuid.uuid4().hex[:12]}",
        personas_dir=PROJECT_ROOT / "config" / "personas",
        ai_timeout_s=10.0,
        shutdown_timeout_s=10.0,
    )


@pytest.fixture
async def start_daemon() -> AsyncIterator[StartDaemon]:
    """Starts daemons; every one still running is stopped (browser closed) after the test."""
    running: list[Application] = []

    async def start(settings: Settings) -> Application:
        app = Application(settings)
        await app.__aenter__()
        running.append(app)
        return app

    yield start
    for app in running:
        if app.db is not None and not app.db.in_memory:
            await app.db.drop()
        await app.stop()
