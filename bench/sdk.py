"""The Gemini SDK's share of the bot's CPU per message: the bot's own responder, alone, against the fake Gemini.

The responder is built as the daemon builds it (`GeminiResponder.from_settings`: the bot's google-genai client
and its request config) and asked for replies to a prompt built by the bot's `build_prompt` from a realistic
conversation, one call after another. The fake Gemini runs in another process, so the CPU time of this process
per call is the client side only: building the request, sending it, parsing the answer.
"""

from __future__ import annotations

import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.stats import latency_figure
from bot.ai import GeminiResponder, Prompt, PromptContext, build_prompt
from bot.context.situation import situation_at
from bot.settings import Settings
from bot.storage.models import Contact, Direction, Message, MessageStatus
from bot.storage.personas import read_persona_file

WARM_UPS = 3
HISTORY_TURNS = 10
CONTACT = "15550600001@c.us"


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (every thread of it, not its children)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def realistic_prompt(settings: Settings) -> Prompt:
    """A conversation in its eleventh turn with the daemon's default persona, as the pipeline would prompt it."""
    persona = read_persona_file(settings.personas_dir / f"{settings.persona}.toml")
    contact = Contact(id=CONTACT, phone=CONTACT.partition("@")[0], push_name="Bench Contact")
    start = datetime.now(UTC) - timedelta(hours=1)
    history = []
    for index in range(HISTORY_TURNS):
        at = start + timedelta(minutes=index * 2)
        history.append(_message(f"Hello again, question {index}: when are you open on Saturday?", at, inbound=True))
        history.append(_message(f"We open at 9 on Saturdays (answer {index}).", at + timedelta(minutes=1)))
    turn = [_message("Thanks! And can I come by at 10 to pick up my order?", datetime.now(UTC), inbound=True)]
    situation = situation_at(datetime.now(UTC), timezone="UTC", working_hours=None)
    context = PromptContext(persona=persona, contact=contact, history=history, turn=turn, situation=situation)
    return build_prompt(context, budget_tokens=settings.prompt_budget_tokens)


def _message(text: str, at: datetime, *, inbound: bool = False) -> Message:
    return Message(
        contact_id=CONTACT,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        status=MessageStatus.SENT,
        text=text,
        created_at=at,
    )


async def sdk_cpu(settings: Settings, calls: int) -> dict[str, Any]:
    """CPU time of this process per `responder.reply(prompt)`, `calls` sequential calls after a few warm-ups."""
    responder = GeminiResponder.from_settings(settings)
    prompt = realistic_prompt(settings)
    try:
        durations: list[float] = []
        cpu = 0.0
        for index in range(calls + WARM_UPS):
            cpu_before, started = cpu_seconds(), time.perf_counter()
            reply = await responder.reply(prompt)
            if reply.is_fallback:
                raise RuntimeError(f"the fake Gemini did not answer: {reply.error}")
            if index >= WARM_UPS:
                durations.append(time.perf_counter() - started)
                cpu += cpu_seconds() - cpu_before
    finally:
        await responder.close()
    return {
        "calls": calls,
        "cpu_per_call_ms": round(cpu / calls * 1000, 3),
        "latency": latency_figure(durations),
        "prompt_tokens_estimated": prompt.estimated_tokens,
    }
