"""The daemon's log as an operator gets it by default (INFO, JSON as under journald): a contact's number and words
never appear in it, and one message's lines are found by its id."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from bot.ops.logging import setup_logging
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient
from bot.storage import Direction

from .conftest import ANA, REPLY_TIMEOUT_S, StartWatched, has_replies, wait_until

QUESTION = "Do you deliver to Rose Lane on Sunday?"
URGENT = "This is urgent, the pipes in flat 4B burst"


@pytest.fixture
def daemon_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    setup_logging("INFO", log_format="json", stream=stream, environ={})
    yield stream
    logger.remove()
    logger.configure(patcher=lambda record: None)
    logger.add(sys.stderr)


async def test_a_contact_number_and_words_stay_out_of_the_daemon_log(
    sim: SimulatorClient,
    simulator: Simulator,
    start_linked: StartWatched,
    daemon_settings: Settings,
    daemon_log: io.StringIO,
) -> None:
    own = simulator.state.own_number
    app, _ = await start_linked(daemon_settings.model_copy(update={"operator_number": f"+{own}"}))
    await sim.send(ANA, QUESTION, name="Ana")
    await wait_until(lambda: has_replies(sim, ANA, 1), REPLY_TIMEOUT_S)
    await sim.send(ANA, URGENT, name="Ana")  # an escalation: the operator is alerted with her words
    await wait_until(lambda: has_replies(sim, ANA, 2), REPLY_TIMEOUT_S)
    await wait_until(lambda: has_replies(sim, own, 1), REPLY_TIMEOUT_S)
    assert await app.wait_idle(REPLY_TIMEOUT_S)
    [alert] = await sim.sent(to=own)
    assert URGENT in alert.text and ANA in alert.text  # the operator's WhatsApp alert is not a log: in full

    lines = [json.loads(line) for line in daemon_log.getvalue().splitlines()]
    output = daemon_log.getvalue()
    assert ANA not in output
    for words in ("Rose Lane", "pipes in flat 4B"):
        assert words not in output
    assert any(line["message"].startswith("alert: ") and "<" in line["message"] for line in lines)

    assert app.db is not None
    question, _, urgent, _ = await app.db.messages.for_contact(f"{ANA}@c.us")
    assert question.direction is Direction.INBOUND and urgent.direction is Direction.INBOUND
    for message, ends in ((question, "answered"), (urgent, "handed to the operator")):
        said = [line["message"] for line in lines if line.get("msg_id") == message.id]
        assert any("stored" in text for text in said), said
        assert any(ends in text for text in said), said
