"""GET /api/pushed: when each new message went out to a page, for a benchmark running in another process."""

from __future__ import annotations

import time

from bot.simulator.client import SimulatorClient
from tests.waiting import wait_until


async def test_a_message_pushed_to_a_linked_page_has_a_push_time(open_page, sim: SimulatorClient) -> None:
    await sim.send("15551234567", "before any page")
    assert await sim.pushed() == {}  # held by the server: nothing went out to a page

    wa = await open_page()
    await wa.log.wait_count("conn.auth_code_change")
    await sim.link()
    await wa.log.wait_count("conn.main_ready")
    before = time.time()
    key = await sim.send("15551234567", "hello", name="Ana")
    await wa.log.wait_count("chat.new_message")

    # The push time is noted once the websocket write returns, which may be a moment after the page saw it.
    await wait_until(lambda: _has(sim, key), timeout_s=5.0)
    pushed = await sim.pushed()
    assert before <= pushed[key] <= time.time()
    assert await sim.pushed([key]) == {key: pushed[key]}
    assert await sim.pushed(["false_15550000009@c.us_NOSUCHID"]) == {}


async def _has(sim: SimulatorClient, key: str) -> bool:
    return key in await sim.pushed()
