"""GeminiResponder through the real google-genai SDK, against the simulator's fake Gemini endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest
from google.genai import errors as genai_errors
from loguru import logger

from bot.ai import GeminiResponder, Prompt, Turn
from bot.ai.prompt import Media
from bot.ai.responder import ModelAnswer, _parse_answer, describe_error, is_retryable, retry_after_of
from bot.errors import AIError, StartupError, Unavailable
from bot.resilience import BreakerState
from bot.settings import Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

PROMPT = Prompt(system_instruction="Be kind.", turns=(Turn("user", "Is the shop open today?"),))
FALLBACK = "Sorry, I will answer soon."
# Short waits between calls, so retry tests take milliseconds; the waits' shape is tested in tests/resilience.
FAST = {"ai_retry_initial_s": 0.01, "ai_retry_max_s": 1.0}

MakeResponder = Callable[..., GeminiResponder]


@pytest.fixture
async def make_responder(simulator: Simulator) -> AsyncIterator[MakeResponder]:
    made: list[GeminiResponder] = []

    def make(clock: Callable[[], float] = time.monotonic, **overrides: object) -> GeminiResponder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            gemini_api_key="test-key",  # type: ignore[arg-type]
            gemini_base_url=simulator.gemini_base_url,
            fallback_reply=FALLBACK,
            **overrides,  # type: ignore[arg-type]
        )
        made.append(GeminiResponder.from_settings(settings, clock=clock))
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


async def test_two_overloads_then_the_real_answer(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str]
) -> None:
    await sim.gemini_behaviour(fail_next=2, status=503)
    reply = await make_responder(ai_attempts=3, **FAST).reply(PROMPT)
    assert not reply.is_fallback and "Is the shop open today?" in reply.text
    assert (reply.attempts, reply.error) == (3, None)
    assert len(await sim.gemini_requests()) == 3
    assert [line.split(" failed")[0] for line in warnings] == ["Gemini call 1 of 3", "Gemini call 2 of 3"]
    assert all("HTTP 503 UNAVAILABLE" in line for line in warnings)


async def test_fallback_when_every_attempt_fails(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str]
) -> None:
    await sim.gemini_behaviour(fail_next=10, status=503)
    reply = await make_responder(ai_attempts=2, **FAST).reply(PROMPT)
    assert (reply.text, reply.is_fallback) == (FALLBACK, True)
    assert (reply.attempts, reply.error) == (2, "HTTP 503 UNAVAILABLE")
    assert len(await sim.gemini_requests()) == 2
    # One line per failed call; the last says why it stopped.
    assert len(warnings) == 2
    assert warnings[1].startswith("Gemini call 2 of 2 failed (HTTP 503 UNAVAILABLE); no calls left")


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_an_input_error_is_never_retried(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str], status: int
) -> None:
    await sim.gemini_behaviour(fail_next=5, status=status)
    reply = await make_responder(ai_attempts=5, **FAST).reply(PROMPT)
    assert (reply.text, reply.is_fallback, reply.attempts) == (FALLBACK, True, 1)
    assert reply.error is not None and reply.error.startswith(f"HTTP {status} ")
    assert len(await sim.gemini_requests()) == 1
    [line] = warnings
    assert line.startswith("Gemini call 1 of 5 failed") and "not worth retrying" in line


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_statuses_that_can_pass_are_retried(
    sim: SimulatorClient, make_responder: MakeResponder, status: int
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=status)
    reply = await make_responder(ai_attempts=2, **FAST).reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (False, 2)
    assert len(await sim.gemini_requests()) == 2


async def test_retry_after_is_honoured(
    simulator: Simulator, sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    await sim.gemini_behaviour(fail_next=1, status=429, retry_after_s=0.3)
    reply = await make_responder(ai_attempts=3, **FAST).reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (False, 2)
    first, second = simulator.gemini.requests
    assert first["status"] == 429 and second["status"] == 200
    # The backoff alone would have waited about 0.01 s.
    assert second["time"] - first["time"] >= 0.3


async def test_retry_after_past_the_deadline_gives_up_at_once(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str]
) -> None:
    await sim.gemini_behaviour(fail_next=5, status=429, retry_after_s=30)
    reply = await make_responder(ai_attempts=3, ai_timeout_s=5.0, ai_retry_max_s=60.0).reply(PROMPT)
    assert (reply.text, reply.is_fallback, reply.attempts) == (FALLBACK, True, 1)
    assert reply.error == "HTTP 429 RESOURCE_EXHAUSTED, retry after 30 s"
    assert reply.latency_s < 2.5  # neither the 30 s asked for nor the 5 s deadline
    assert len(await sim.gemini_requests()) == 1
    [line] = warnings
    assert "too late" in line


async def test_retry_after_longer_than_the_longest_wait_gives_up_at_once(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    await sim.gemini_behaviour(fail_next=5, status=503, retry_after_s=5)
    reply = await make_responder(ai_attempts=3, ai_timeout_s=30.0, ai_retry_max_s=1.0).reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (True, 1)
    assert reply.latency_s < 2.5
    assert len(await sim.gemini_requests()) == 1


async def test_a_hung_call_is_abandoned_and_retried(
    simulator: Simulator, make_responder: MakeResponder, sim: SimulatorClient, warnings: list[str]
) -> None:
    responder = make_responder(ai_attempts=3, ai_call_timeout_s=0.5, **FAST)
    await responder.check()  # a warm connection: the first call's set-up must not eat into its 0.5 s
    await sim.gemini_behaviour(hang_next=1)
    reply = await responder.reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (False, 2)
    assert 0.5 <= reply.latency_s < 5.0
    assert [request["status"] for request in simulator.gemini.requests] == [None, 200]
    [line] = warnings
    assert line.startswith("Gemini call 1 of 3 failed (no answer within 0.5 s (AI_CALL_TIMEOUT_S))")


@pytest.mark.parametrize("attempts", [1, 2, 4])
async def test_failed_calls_never_exceed_ai_attempts(
    sim: SimulatorClient, make_responder: MakeResponder, attempts: int
) -> None:
    await sim.gemini_behaviour(fail_next=20, status=503)
    reply = await make_responder(ai_attempts=attempts, **FAST).reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (True, attempts)
    assert len(await sim.gemini_requests()) == attempts


@pytest.mark.parametrize("attempts", [1, 3])
async def test_hung_calls_never_exceed_ai_attempts(
    sim: SimulatorClient, make_responder: MakeResponder, attempts: int
) -> None:
    responder = make_responder(ai_attempts=attempts, ai_call_timeout_s=0.2, **FAST)
    await responder.check()
    await sim.gemini_behaviour(hang_next=20)
    reply = await responder.reply(PROMPT)
    assert (reply.is_fallback, reply.attempts) == (True, attempts)
    # At most: on a loaded machine a call can be given up before its request reaches the server.
    assert 1 <= len(await sim.gemini_requests()) <= attempts


async def test_an_unreachable_endpoint_is_retried_then_falls_back(simulator: Simulator) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        gemini_api_key="test-key",  # type: ignore[arg-type]
        gemini_base_url="http://127.0.0.1:9/",  # discard port: nothing listens
        fallback_reply=FALLBACK,
        ai_attempts=2,
        **FAST,  # type: ignore[arg-type]
    )
    responder = GeminiResponder.from_settings(settings)
    try:
        reply = await responder.reply(PROMPT)
    finally:
        await responder.close()
    assert (reply.text, reply.attempts) == (FALLBACK, 2)
    assert reply.error is not None and "Connect" in reply.error


async def test_fallback_when_the_model_is_too_slow(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str]
) -> None:
    await sim.gemini_behaviour(delay_ms=3000)
    reply = await make_responder(ai_timeout_s=0.3).reply(PROMPT)
    assert (reply.text, reply.is_fallback) == (FALLBACK, True)
    assert reply.latency_s < 2.0
    assert (reply.attempts, reply.error) == (1, "no answer within the 0.3 s deadline (AI_TIMEOUT_S)")
    [line] = warnings
    assert line.startswith("Gemini call 1 of 3 failed (no answer within the 0.3 s deadline")


async def test_start_up_check_refuses_a_rejected_key(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    responder = make_responder()
    await responder.check()  # accepted
    await sim.gemini_behaviour(fail_next=1, status=400)
    with pytest.raises(StartupError, match="Gemini refused the API key or the model"):
        await responder.check()


async def test_start_up_check_gets_past_a_passing_overload(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    await sim.gemini_behaviour(fail_next=1, status=503)
    await make_responder(**FAST).check()


async def test_start_up_check_calls_exhausted_quota_unavailable(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    await sim.gemini_behaviour(fail_next=5, status=429)
    with pytest.raises(Unavailable, match="Gemini is unavailable: HTTP 429"):
        await make_responder(ai_attempts=2, **FAST).check()


async def test_start_up_check_refuses_an_unreachable_endpoint(simulator: Simulator) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        gemini_api_key="test-key",  # type: ignore[arg-type]
        gemini_base_url="http://127.0.0.1:9/",  # discard port: nothing listens
        ai_timeout_s=5.0,
        **FAST,  # type: ignore[arg-type]
    )
    responder = GeminiResponder.from_settings(settings)
    try:
        with pytest.raises(StartupError, match="Gemini is unreachable"):
            await responder.check()
    finally:
        await responder.close()


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (genai_errors.ClientError(400, {"error": {"code": 400}}), False),
        (genai_errors.ClientError(401, {"error": {"code": 401}}), False),
        (genai_errors.ClientError(404, {"error": {"code": 404}}), False),
        (genai_errors.ClientError(408, {"error": {"code": 408}}), True),
        (genai_errors.ClientError(429, {"error": {"code": 429}}), True),
        (genai_errors.ServerError(500, {"error": {"code": 500}}), True),
        (genai_errors.ServerError(503, {"error": {"code": 503}}), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.InvalidURL("gemini"), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_is_worth_a_retry(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_retry_info_in_the_error_body_counts_as_retry_after() -> None:
    """Gemini's 429 says how long to wait in google.rpc.RetryInfo, not always in a header."""
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
            ],
        }
    }
    error = genai_errors.ClientError(429, body)
    assert retry_after_of(error) == 37.0
    assert describe_error(error) == "HTTP 429 RESOURCE_EXHAUSTED, retry after 37 s"
    assert retry_after_of(genai_errors.ClientError(429, {"error": {"code": 429}})) is None
    assert retry_after_of(TimeoutError()) is None


# The circuit breaker, counting single calls. Its clock is the test's: no test waits for open_s to pass.

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
BREAKER = {"ai_breaker_failures": 3, "ai_breaker_window_s": 60.0, "ai_breaker_open_s": 30.0}
# Gemini failing for a while, each way it can: overloaded, out of quota (asking for a short wait), hung.
OUTAGES = {
    "503": {"fail_next": 100, "status": 503},
    "429 with retry-after": {"fail_next": 100, "status": 429, "retry_after_s": 0.01},
    "hung": {"hang_next": 100},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch(responder: GeminiResponder) -> list[tuple[BreakerState, BreakerState]]:
    changes: list[tuple[BreakerState, BreakerState]] = []
    responder.breaker.subscribe(lambda old, new: changes.append((old, new)))
    return changes


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
async def test_the_breaker_bounds_the_calls_of_an_outage(
    sim: SimulatorClient, make_responder: MakeResponder, outage: dict[str, float]
) -> None:
    responder = make_responder(Clock(), ai_attempts=3, ai_call_timeout_s=0.2, **BREAKER, **FAST)
    await responder.check()  # a warm connection, so that a hung call's 0.2 s is all waiting for Gemini
    await sim.gemini_behaviour(**outage)
    replies = [await responder.reply(PROMPT) for _ in range(10)]
    assert all(reply.is_fallback and reply.breaker_open for reply in replies)
    # The first reply's three failed calls opened it; nine messages later, still no other call.
    assert [reply.attempts for reply in replies] == [3] + [0] * 9
    assert replies[0].error is not None and replies[0].error.endswith("; circuit breaker ai open")
    assert all(reply.error == "circuit breaker ai is open (next probe in 30.0 s)" for reply in replies[1:])
    # At most: on a loaded machine a hung call can be given up before its request reaches the server.
    assert 1 <= len(await sim.gemini_requests()) <= 3
    assert responder.breaker.state is OPEN


@pytest.mark.parametrize("outage", [OUTAGES["503"], OUTAGES["hung"]], ids=["503", "hung"])
async def test_retries_stop_once_the_breaker_opens(
    sim: SimulatorClient, make_responder: MakeResponder, warnings: list[str], outage: dict[str, float]
) -> None:
    responder = make_responder(Clock(), ai_attempts=2, ai_call_timeout_s=0.2, **BREAKER, **FAST)
    await responder.check()
    await sim.gemini_behaviour(**outage)
    first = await responder.reply(PROMPT)
    assert (first.attempts, first.breaker_open, responder.breaker.state) == (2, False, CLOSED)
    second = await responder.reply(PROMPT)  # its first call is the third failure: no second call
    assert (second.is_fallback, second.attempts, second.breaker_open) == (True, 1, True)
    third = await responder.reply(PROMPT)
    assert (third.is_fallback, third.attempts, third.breaker_open) == (True, 0, True)
    assert 1 <= len(await sim.gemini_requests()) <= 3
    assert warnings[-3] == "circuit breaker ai: open (3 failures within 60 s; no calls for 30 s)"
    assert warnings[-2].startswith("Gemini call 1 of 2 failed (")
    assert warnings[-2].endswith("); circuit breaker ai opened; sending the fallback")
    assert warnings[-1] == (
        "Gemini: circuit breaker ai is open (next probe in 30.0 s); sending the fallback reply without a call"
    )


async def test_after_open_s_one_probe_finds_gemini_well_and_closes_it(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    clock = Clock()
    responder = make_responder(clock, ai_attempts=3, **BREAKER, **FAST)
    changes = watch(responder)
    await sim.gemini_behaviour(fail_next=3, status=503)  # then well again
    assert (await responder.reply(PROMPT)).breaker_open
    clock.now += 29.9
    assert (await responder.reply(PROMPT)).attempts == 0
    assert len(await sim.gemini_requests()) == 3
    clock.now += 0.1
    probe = await responder.reply(PROMPT)
    assert (probe.is_fallback, probe.attempts, probe.breaker_open) == (False, 1, False)
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert not (await responder.reply(PROMPT)).is_fallback
    assert len(await sim.gemini_requests()) == 5


async def test_a_failed_probe_opens_it_again_without_retries(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    clock = Clock()
    responder = make_responder(clock, ai_attempts=3, **BREAKER, **FAST)
    changes = watch(responder)
    await sim.gemini_behaviour(fail_next=100, status=503)
    await responder.reply(PROMPT)
    clock.now += 30
    probe = await responder.reply(PROMPT)
    assert (probe.is_fallback, probe.attempts, probe.breaker_open) == (True, 1, True)
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    assert responder.breaker.retry_at == clock.now + 30
    assert (await responder.reply(PROMPT)).attempts == 0
    assert len(await sim.gemini_requests()) == 4


async def test_while_the_probe_runs_other_replies_make_no_call(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    clock = Clock()
    responder = make_responder(clock, ai_attempts=3, **BREAKER, **FAST)
    await sim.gemini_behaviour(fail_next=3, status=503)
    await responder.reply(PROMPT)
    await sim.gemini_behaviour(delay_ms=500)  # well again, but slow: the probe is still running below
    probing = asyncio.Event()
    responder.breaker.subscribe(lambda old, new: probing.set() if new is HALF_OPEN else None)
    clock.now += 30
    probe = asyncio.create_task(responder.reply(PROMPT))
    async with asyncio.timeout(5):
        await probing.wait()
    other = await responder.reply(PROMPT)
    assert (other.is_fallback, other.attempts, other.breaker_open) == (True, 0, True)
    assert other.error == "circuit breaker ai is open (a probe call is under way)"
    assert not (await probe).is_fallback
    assert responder.breaker.state is CLOSED
    assert len(await sim.gemini_requests()) == 4


async def test_input_errors_do_not_open_the_breaker(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    responder = make_responder(Clock(), ai_attempts=3, **BREAKER, **FAST)
    changes = watch(responder)
    await sim.gemini_behaviour(fail_next=6, status=400)
    replies = [await responder.reply(PROMPT) for _ in range(6)]
    assert all(reply.is_fallback and not reply.breaker_open and reply.attempts == 1 for reply in replies)
    assert (responder.breaker.state, changes) == (CLOSED, [])
    assert len(await sim.gemini_requests()) == 6


async def test_a_probe_refused_for_its_input_hands_the_probe_on(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    clock = Clock()
    responder = make_responder(clock, ai_attempts=3, **BREAKER, **FAST)
    await sim.gemini_behaviour(fail_next=3, status=503)
    await responder.reply(PROMPT)
    clock.now += 30
    await sim.gemini_behaviour(fail_next=1, status=400)
    refused = await responder.reply(PROMPT)
    assert (refused.is_fallback, refused.attempts, refused.breaker_open) == (True, 1, False)
    assert responder.breaker.state is HALF_OPEN  # a 400 says nothing about Gemini being well or not
    assert not (await responder.reply(PROMPT)).is_fallback  # the next reply is the probe
    assert responder.breaker.state is CLOSED


async def test_a_reply_cut_off_by_its_deadline_counts_as_a_failure(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    responder = make_responder(Clock(), ai_timeout_s=0.3, ai_breaker_failures=1)
    await sim.gemini_behaviour(delay_ms=3000)
    reply = await responder.reply(PROMPT)
    assert (reply.is_fallback, reply.attempts, reply.breaker_open) == (True, 1, True)
    assert responder.breaker.state is OPEN


async def test_a_cancelled_probe_hands_the_probe_on(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    clock = Clock()
    responder = make_responder(clock, ai_attempts=3, **BREAKER, **FAST)
    await sim.gemini_behaviour(fail_next=3, status=503)
    await responder.reply(PROMPT)
    await sim.gemini_behaviour(delay_ms=3000)
    probing = asyncio.Event()
    responder.breaker.subscribe(lambda old, new: probing.set() if new is HALF_OPEN else None)
    clock.now += 30
    probe = asyncio.create_task(responder.reply(PROMPT))
    async with asyncio.timeout(5):
        await probing.wait()
    probe.cancel()  # the daemon stopping: says nothing about Gemini
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert responder.breaker.state is HALF_OPEN
    assert responder.breaker.allow()


async def test_the_start_up_check_neither_uses_nor_feeds_the_breaker(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    responder = make_responder(Clock(), ai_attempts=2, ai_breaker_failures=1, **FAST)
    await sim.gemini_behaviour(fail_next=2, status=503)
    with pytest.raises(Unavailable):
        await responder.check()
    assert responder.breaker.state is CLOSED
    await sim.gemini_behaviour(fail_next=1, status=503)
    assert (await responder.reply(PROMPT)).breaker_open
    await responder.check()  # goes through an open breaker


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The WARNING lines the responder logs, in order."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.rstrip("\n")), level="WARNING", format="{message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


async def test_the_answer_is_structured_and_counts_its_tokens(
    sim: SimulatorClient, make_responder: MakeResponder
) -> None:
    reply = await make_responder().reply(PROMPT)
    assert not reply.needs_human
    assert reply.model == "gemini-2.5-flash"
    # The fake Gemini counts about four characters a token, prompt and answer apart.
    assert reply.tokens_in == (len("Be kind.") + 3) // 4 + (len("Is the shop open today?") + 3) // 4
    assert reply.tokens_out > 0
    assert not reply.text.startswith("{")  # the reply field, not the JSON around it


async def test_the_model_can_hand_the_chat_to_a_person(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    prompt = Prompt(system_instruction="Be kind.", turns=(Turn("user", "Can I talk to a real person please?"),))
    reply = await make_responder().reply(prompt)
    assert reply.needs_human and not reply.is_fallback


def test_an_answer_in_plain_text_is_taken_as_the_reply() -> None:
    assert _parse_answer("Hello there").reply == "Hello there"
    assert _parse_answer('{"reply": " Hi ", "needs_human": true}') == ModelAnswer(reply="Hi", needs_human=True)
    with pytest.raises(AIError):
        _parse_answer('{"reply": ""}')
    with pytest.raises(AIError):
        _parse_answer('{"text": "no reply field"}')


async def test_images_go_to_the_model_with_their_turn(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    image = Media(mime_type="image/png", data=b"\x89PNG fake bytes")
    prompt = Prompt(system_instruction="Be kind.", turns=(Turn("user", "[image] what is this?", media=(image,)),))
    reply = await make_responder().reply(prompt)
    assert not reply.is_fallback
    [request] = await sim.gemini_requests()
    assert request.contents[0].text == "[image] what is this?"
    assert [(m.mime_type, m.bytes) for m in request.contents[0].media] == [("image/png", len(image.data))]


async def test_a_summary_folds_the_earlier_one_in(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    summary = await make_responder().summarize("Ana asked about prices.", "Contact: and the hours?\nYou: 9 to 18.")
    assert summary is not None and "9 to 18" in summary
    [request] = await sim.gemini_requests()
    assert request.system_instruction is not None and request.system_instruction.startswith("You summarise")
    assert "Ana asked about prices." in request.contents[0].text


async def test_no_summary_while_gemini_fails(sim: SimulatorClient, make_responder: MakeResponder) -> None:
    await sim.gemini_behaviour(fail_next=10, status=503)
    assert await make_responder(ai_attempts=2, **FAST).summarize(None, "Contact: hi") is None
