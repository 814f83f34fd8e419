"""What the operator-tool tests share: the command handlers opening the test's database, and running a command
line through the real parser."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.cli import build_parser
from bot.settings import Settings
from bot.storage import Database
from bot.tools import common


@pytest.fixture
def use_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The handlers' `open_database` yields the test database instead of the configured one."""

    @asynccontextmanager
    async def open_test_database(settings: Settings) -> AsyncIterator[Database]:
        yield db

    monkeypatch.setattr(common, "open_database", open_test_database)
    return db


async def run_command(settings: Settings, *argv: str) -> None:
    """`run_bot.py ARGV...` in-process: parsed by the real parser, run by its handler."""
    args: argparse.Namespace = build_parser().parse_args(list(argv))
    await args.handler(args, settings)
