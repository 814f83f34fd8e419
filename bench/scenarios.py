"""The daemon's figures in one daemon's life: detection, reply overhead, CPU per message, throughput, memory.

The real daemon (Application: headless Chromium, the run's store, the real google-genai SDK) in this process,
against the simulator in its own process, with human pacing off. Every contact waits for the reply to one
message before sending the next, so the bot never merges messages into one turn and each message is answered by
exactly one reply, which quotes it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench.memory import pss_mb, rss_mb
from bench.profiling import profiled
from bench.sdk import cpu_seconds
from bench.simulator_process import SimulatorProcess
from bench.stats import latency_figure
from bot.app import Application
from bot.settings import PROJECT_ROOT, UNPACED, Settings
from bot.simulator.client import SimulatorClient
from bot.whatsapp.profile import chromium_pids
from bot.whatsapp.states import ConnectionState

TIMEOUT_S = 120.0
SEQUENTIAL_CONTACT = "15550100001"
WARM_UP_MESSAGES = 3


def daemon_settings(folder: Path, simulator: SimulatorProcess, mongodb_uri: str, database: str) -> Settings:
    return Settings(
        _env_file=None,
        account="bench",
        sessions_dir=folder / "sessions",
        whatsapp_url=simulator.base_url,
        gemini_base_url=simulator.gemini_base_url,
        gemini_api_key="bench",  # type: ignore[arg-type]
        mongodb_uri=mongodb_uri,
        mongodb_database=database,
        personas_dir=PROJECT_ROOT / "config" / "personas",
        status_port=0,
        login_qr_text=False,
        log_level="WARNING",
        **UNPACED,  # type: ignore[arg-type]
    )


def progress(what: str) -> None:
    """A line on stderr per phase, so a long run shows where it is."""
    print(f"bench: {what}", file=sys.stderr, flush=True)


def memory_now(settings: Settings) -> dict[str, float]:
    return {"python_rss_mb": rss_mb(), "chromium_pss_mb": pss_mb(chromium_pids(settings.profile_dir))}


async def conversation(sim: SimulatorClient, number: str, texts: list[str]) -> list[tuple[str, float]]:
    """One contact sends `texts`, each after the reply to the one before; (key, seconds to the reply) each."""
    results = []
    async with sim.phone(number) as phone:
        before = phone.reply_count
        for index, text in enumerate(texts):
            started = time.perf_counter()
            key = await sim.send(number, text, name=f"Bench {number[-3:]}")
            await phone.wait_for_replies(before + index + 1, TIMEOUT_S)
            results.append((key, time.perf_counter() - started))
    return results


async def detection_delays(app: Application, sim: SimulatorClient, contact: str, keys: set[str]) -> list[float]:
    """For these messages: the bot's stored `created_at` minus the simulator's push time (same wall clock)."""
    assert app.db is not None
    stored = await app.db.messages.for_contact(f"{contact}@c.us")
    pushed = await sim.pushed()
    return [m.created_at.timestamp() - pushed[m.wa_id] for m in stored if m.wa_id in keys and m.wa_id in pushed]


async def sequential(
    app: Application, sim: SimulatorClient, messages: int, delay_ms: float, profile: Path | None
) -> dict[str, Any]:
    """One contact, one message at a time: detection latency, reply overhead (latency minus model delay) and
    this process's CPU time per message (the daemon and the thin driver; the simulator runs elsewhere)."""
    texts = [f"sequential message {index}" for index in range(messages)]
    with profiled(profile):
        cpu_before = cpu_seconds()
        results = await conversation(sim, SEQUENTIAL_CONTACT, texts)
        cpu = cpu_seconds() - cpu_before
    detection = await detection_delays(app, sim, SEQUENTIAL_CONTACT, {key for key, _ in results})
    if len(detection) != len(results):
        raise RuntimeError(f"detection: {len(detection)} of {len(results)} messages stored with a push time")
    overhead = [max(0.0, seconds - delay_ms / 1000) for _, seconds in results]
    return {
        "detection": latency_figure(detection),
        "reply_overhead": latency_figure(overhead),
        "cpu": {
            "messages": messages,
            "cpu_s": round(cpu, 3),
            "cpu_per_message_ms": round(cpu / messages * 1000, 3),
            "profiled": profile is not None,
        },
    }


def contact_number(prefix: str, index: int) -> str:
    return f"1555{prefix}{index:05d}"


async def many_contacts(sim: SimulatorClient, prefix: str, contacts: int, messages: int) -> tuple[float, list[str]]:
    """`contacts` conversations at once, `messages` distinct texts each; returns wall seconds and the texts."""
    plan = {contact_number(prefix, c): [f"{prefix} c{c} m{m}" for m in range(messages)] for c in range(contacts)}
    started = time.perf_counter()
    await asyncio.gather(*(conversation(sim, number, texts) for number, texts in plan.items()))
    return time.perf_counter() - started, [text for texts in plan.values() for text in texts]


async def burst(sim: SimulatorClient, contacts: int, messages: int) -> dict[str, Any]:
    """Replies per second until all are answered; lost (no reply quotes it) and duplicated replies."""
    wall_s, texts = await many_contacts(sim, "20", contacts, messages)
    replies = [sent.text for sent in await sim.sent() if sent.to.startswith("155520")]
    quoted = {text: 0 for text in texts}
    for reply in replies:
        for text in texts_quoted(reply, quoted):
            quoted[text] += 1
    return {
        "contacts": contacts,
        "messages_per_contact": messages,
        "messages": len(texts),
        "replies": len(replies),
        "wall_s": round(wall_s, 2),
        "replies_per_s": round(len(replies) / wall_s, 1),
        "lost": sum(1 for count in quoted.values() if count == 0),
        "duplicated": sum(count - 1 for count in quoted.values() if count > 1),
    }


def texts_quoted(reply: str, texts: dict[str, int]) -> list[str]:
    """The offline model quotes the message it answers as `You said: "<text>".`"""
    start = reply.find('You said: "')
    if start < 0:
        return []
    quote = reply[start + len('You said: "') :].split('".', 1)[0]
    return [quote] if quote in texts else []


async def memory_run(settings: Settings, sim: SimulatorClient, messages: int, contacts: int) -> dict[str, Any]:
    """`messages` messages from `contacts` contacts at once, with checkpoints at half and at the end."""
    per_contact = max(1, messages // contacts // 2)
    checkpoints = []
    for half in ("30", "31"):
        await many_contacts(sim, half, contacts, per_contact)
        checkpoints.append(memory_now(settings))
    middle, end = checkpoints

    def growth(key: str) -> float:
        return round((end[key] - middle[key]) / middle[key] * 100, 1) if middle[key] else 0.0

    return {
        "messages": per_contact * contacts * 2,
        "contacts": contacts,
        "at_half": middle,
        "at_end": end,
        "python_growth_last_half_pct": growth("python_rss_mb"),
        "chromium_growth_last_half_pct": growth("chromium_pss_mb"),
    }


async def run_daemon(
    sim: SimulatorClient,
    settings: Settings,
    *,
    messages: int,
    burst_contacts: int,
    burst_messages: int,
    memory_messages: int,
    memory_contacts: int,
    delay_ms: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    async with Application(settings) as app:
        assert app.whatsapp is not None
        async with sim.phone("15550100000") as phone:
            await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, TIMEOUT_S)
        await sim.link()
        await app.whatsapp.wait_until_connected(TIMEOUT_S)
        idle = memory_now(settings)
        await sim.gemini_behaviour(delay_ms=delay_ms)
        await conversation(sim, "15550100009", [f"warm-up {index}" for index in range(WARM_UP_MESSAGES)])
        progress(f"sequential: {messages} messages")
        figures = await sequential(app, sim, messages, delay_ms, profile)
        progress(f"burst: {burst_contacts} contacts x {burst_messages} messages")
        figures["throughput"] = await burst(sim, burst_contacts, burst_messages)
        progress(f"memory: {memory_messages} messages from {memory_contacts} contacts")
        memory = await memory_run(settings, sim, memory_messages, memory_contacts)
        progress("memory: the daily browser restart")
        memory["after_browser_restart"] = await after_browser_restart(app, settings)
        figures["memory"] = {"idle": idle, **memory}
    return figures


async def after_browser_restart(app: Application, settings: Settings) -> dict[str, float]:
    """The scheduler's daily browser restart, then memory once WhatsApp is connected again: what it recovers."""
    assert app.scheduler is not None and app.whatsapp is not None
    await app.scheduler.restart_browser()
    away = [state for state in ConnectionState if state is not ConnectionState.CONNECTED]
    await app.whatsapp.wait_for_state(*away, timeout_s=TIMEOUT_S)
    await app.whatsapp.wait_until_connected(TIMEOUT_S)
    return memory_now(settings)
