"""Fixtures that start real parts: the simulator (fake WhatsApp Web + fake Gemini) and a shared Chromium."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright
from pymongo.errors import AutoReconnect

from bot.settings import MEMORY_URI
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import Database
from bot.whatsapp.browser import chromium_flags, find_chromium

# A real MongoDB for the storage tests when given; the in-memory stand-in otherwise, through the same code.
TEST_MONGODB_URI = os.environ.get("TEST_MONGODB_URI")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_MONGODB_URI:
        return
    skip = pytest.mark.skip(reason="needs a real MongoDB server: set TEST_MONGODB_URI=mongodb://host:27017")
    for item in items:
        if "mongodb" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def mongodb_uri() -> str:
    return TEST_MONGODB_URI or MEMORY_URI


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[Database]:
    """A database of its own for each test (dropped afterwards on a real server), with indexes."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = await Database.connect(mongodb_uri, name, timeout_s=5.0)
    await database.ensure_indexes()
    try:
        yield database
    finally:
        if not database.in_memory:
            # A pooled connection from before a server restart (the wire lane's outage tests) fails once.
            try:
                await database.drop()
            except AutoReconnect:
                await database.drop()
        await database.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for every test that needs a plain page (the daemon launches its own)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(find_chromium(playwright)), headless=True, args=chromium_flags()
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A fresh simulator on a free port of 127.0.0.1, stopped after the test."""
    async with Simulator(host="127.0.0.1", port=0) as sim:
        yield sim


@pytest.fixture
async def sim(simulator: Simulator) -> AsyncIterator[SimulatorClient]:
    """The simulator's control API, as tests, benchmarks and outside checks use it."""
    async with SimulatorClient(simulator.base_url) as client:
        yield client
