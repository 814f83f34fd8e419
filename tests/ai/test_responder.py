"""GeminiResponder through the real google-genai SDK, against the simulator's fake Gemini endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.ai import GeminiResponder, Prompt, Turn
from bot.errors import StartupError
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

PROMPT = Prompt(system_instruction="Be kind.", turns=(Turn("user", "Is the shop open today?"),))
FALLBACK = "Sorry, I will answer soon."

MakeResponder = Callable[..., GeminiResponder]


@pytest.fixture
async def make_responder(simulator: Simulator) -> AsyncIterator[MakeResponder]:
    made: list[GeminiResponder] = []

    def make(**overrides: object) -> GeminiResponder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            gemini_api_key="test-key",  # type: ignore[arg-type]
            gemini_base_url=simulator.gemini_base_url,
            fallback_reply=FALLBACK,
            **overrides,  # type: ignore[arg-type]
        )
        made.append(GeminiResponder.from_settings(settings))
        return made[-1]

    yield make
    for responder in made:
        await responder.close()


async def test_reply_comes_from_the_model(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    reply = await make_responder().reply(PROMPT)
    assert not reply.is_fallback
    assert "Is the shop open today?" in reply.text
    [request] = await sim.gemini_requests()
    assert request.system_instruction == "Be kind."
    assert [(t.role, t.text) for t in request.contents] == [("user", "Is the shop open today?")]


async def test_a_transient_failure_is_retried(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    await sim.gemini_behaviour(fail_next=1, status=503)
    reply = await make_responder(ai_attempts=3).reply(PROMPT)
    assert not reply.is_fallback
    assert len(await sim.gemini_requests()) == 2


async def test_fallback_when_every_attempt_fails(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    await sim.gemini_behaviour(fail_next=10, status=503)
    reply = await make_responder(ai_attempts=2).reply(PROMPT)
    assert (reply.text, reply.is_fallback) == (FALLBACK, True)
    assert len(await sim.gemini_requests()) == 2


async def test_fallback_when_the_model_is_too_slow(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    await sim.gemini_behaviour(delay_ms=3000)
    reply = await make_responder(ai_timeout_s=0.3).reply(PROMPT)
    assert (reply.text, reply.is_fallback) == (FALLBACK, True)
    assert reply.latency_s < 2.0


async def test_start_up_check_refuses_a_rejected_key(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    responder = make_responder()
    await responder.check()  # accepted
    await sim.gemini_behaviour(fail_next=1, status=400)
    with pytest.raises(StartupError, match="Gemini refused the API key or the model"):
        await responder.check()


async def test_start_up_check_refuses_an_unreachable_endpoint(simulator: Simulator) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        gemini_api_key="test-key",  # type: ignore[arg-type]
        gemini_base_url="http://127.0.0.1:9/",  # discard port: nothing listens
        ai_timeout_s=5.0,
    )
    responder = GeminiResponder.from_settings(settings)
    try:
        with pytest.raises(StartupError, match="Gemini is unreachable"):
            await responder.check()
    finally:
        await responder.close()
