"""Scheduled messages with the real daemon, Chromium and the simulator: sent once at their time, exactly once
across a restart (stopped before it was due, or gone between sending and recording it), and part of the
conversation the contact then answers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from bot.app import Application
from bot.settings import Settings
from bot.simulator.client import SimulatorClient
from bot.storage import Database, utc_now
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus
from bot.whatsapp import ConnectionState

from .conftest import ANA, READY_TIMEOUT_S, REPLY_TIMEOUT_S, gemini_calls_reach, has_replies, wait_until

TEXT = "Reminder: your table for two is booked for 9 tonight."


@pytest.fixture
def settings(fault_settings: Settings, db: Database) -> Settings:
    """Every daemon of a test, and the test, on one store; due messages looked for twice a second."""
    return fault_settings.model_copy(update={"mongodb_database": db.name, "scheduled_poll_s": 0.5})


@contextlib.asynccontextmanager
async def daemon(settings: Settings, db: Database) -> AsyncIterator[Application]:
    app = Application(settings, database=db if db.in_memory else None)
    async with app:
        yield app


async def connected(settings: Settings, db: Database, sim: SimulatorClient, *, link: bool = False) -> Application:
    app = Application(settings, database=db if db.in_memory else None)
    await app.__aenter__()
    assert app.whatsapp is not None
    if link:
        await app.whatsapp.wait_for_state(ConnectionState.NEEDS_LOGIN, timeout_s=READY_TIMEOUT_S)
        await sim.link()
    await app.whatsapp.wait_until_connected(READY_TIMEOUT_S)
    return app


async def schedule(db: Database, at: datetime) -> ScheduledMessage:
    message = ScheduledMessage(to=f"{ANA}@c.us", text=TEXT, at=at, message_id="3EB0" + "5C4ED" * 3 + "0")
    return await db.scheduled.add(message)


async def status_is(db: Database, message: ScheduledMessage, status: ScheduledStatus) -> bool:
    stored = await db.scheduled.get(message.id)
    return stored is not None and stored.status is status


async def test_a_scheduled_message_goes_out_once_at_its_time_and_its_answer_is_answered(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    app = await connected(settings, db, sim, link=True)
    try:
        at = utc_now() + timedelta(seconds=2)
        message = await schedule(db, at)
        await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)
        [sent] = await sim.sent(to=ANA)
        assert sent.text == TEXT and sent.time >= int(at.timestamp())  # not before its time
        await wait_until(lambda: status_is(db, message, ScheduledStatus.SENT), REPLY_TIMEOUT_S)
        assert app.health is not None and app.health.ok

        # Ana answers: she is answered (the bot's own send was no operator takeover), knowing what it said.
        await sim.send(ANA, "thanks, see you then", name="Ana")
        await wait_until(lambda: has_replies(sim, ANA, 2), REPLY_TIMEOUT_S)
        await gemini_calls_reach(sim, 1)
        [request] = await sim.gemini_requests()
        assert TEXT in request.all_text
        assert [reply.text for reply in await sim.sent(to=ANA)].count(TEXT) == 1
    finally:
        await app.stop()


async def test_exactly_once_across_a_stop_before_it_was_due(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    app = await connected(settings, db, sim, link=True)
    message = await schedule(db, utc_now() + timedelta(seconds=2))
    await app.stop()  # before it is due
    assert await status_is(db, message, ScheduledStatus.PENDING)
    await wait_until(lambda: utc_now() > message.at + timedelta(seconds=1), 10.0)  # due while the bot is down

    async with daemon(settings, db):
        await wait_until(lambda: status_is(db, message, ScheduledStatus.SENT), READY_TIMEOUT_S + REPLY_TIMEOUT_S)
    assert [reply.text for reply in await sim.sent(to=ANA)] == [TEXT]


async def test_exactly_once_when_the_daemon_died_between_sending_and_recording_it(
    settings: Settings, db: Database, sim: SimulatorClient
) -> None:
    app = await connected(settings, db, sim, link=True)
    try:
        message = await schedule(db, utc_now())
        await wait_until(lambda: status_is(db, message, ScheduledStatus.SENT), REPLY_TIMEOUT_S)
    finally:
        await app.stop()
    # What a kill -9 right after the send leaves: claimed, gone out, not recorded as sent.
    await db.scheduled._collection.update_one({"_id": message.id}, {"$set": {"status": "sending"}})
    # And one claimed by a run that died before its send reached WhatsApp.
    second = ScheduledMessage(to=f"{ANA}@c.us", text="and one more", at=utc_now(), message_id="3EB0" + "AB12" * 4)
    await db.scheduled.add(second)
    await db.scheduled.claim_due(utc_now())

    async with daemon(settings, db):
        for each in (message, second):
            await wait_until(lambda each=each: status_is(db, each, ScheduledStatus.SENT), READY_TIMEOUT_S * 2)
    assert [reply.text for reply in await sim.sent(to=ANA)] == [TEXT, "and one more"]
    stored = await db.scheduled.get(message.id)
    assert stored is not None and stored.attempts == 2
