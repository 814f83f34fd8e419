"""Reply latency and throughput of the whole daemon against the simulator, and the bot's own overhead.

The real daemon (Application: headless Chromium, wa-js shaped page, in-memory store, the real google-genai
SDK) runs against the simulator. The fake Gemini answers after a chosen delay, so what a contact waits beyond
that delay is the bot's own overhead: page event, storage, queueing, prompt, SDK round trip, send.

    .venv/bin/python bench/latency.py [--messages 40] [--contacts 8] [--model-delay-ms 0 500]

Prints one JSON object per scenario, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from loguru import logger

from bot.app import Application
from bot.settings import PROJECT_ROOT, UNPACED, Settings
from bot.simulator import Simulator
from bot.simulator.client import SimulatorClient

TIMEOUT_S = 60.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def sequential(sim: SimulatorClient, messages: int) -> list[float]:
    """One contact, one message at a time: the latency a contact sees for each."""
    latencies = []
    async with sim.phone("15550100001") as phone:
        before = phone.reply_count
        for index in range(messages):
            started = time.perf_counter()
            await sim.send(phone.number, f"sequential message {index}", name="Bench")
            await phone.wait_for_replies(before + index + 1, TIMEOUT_S)
            latencies.append(time.perf_counter() - started)
    return latencies


async def concurrent(sim: SimulatorClient, contacts: int, messages: int) -> tuple[float, list[float]]:
    """`contacts` contacts each send `messages // contacts` messages at once; returns wall time and latencies."""
    per_contact = max(1, messages // contacts)
    latencies: list[float] = []

    async def contact(number: str) -> None:
        async with sim.phone(number) as phone:
            before = phone.reply_count
            for index in range(per_contact):
                started = time.perf_counter()
                await sim.send(number, f"concurrent message {index}", name=f"Bench {number[-2:]}")
                await phone.wait_for_replies(before + index + 1, TIMEOUT_S)
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(contact(f"155502000{n:02d}") for n in range(contacts)))
    return time.perf_counter() - started, latencies


def summary(name: str, delay_ms: float, latencies: list[float], wall_s: float | None = None) -> dict[str, object]:
    result: dict[str, object] = {
        "scenario": name,
        "model_delay_ms": delay_ms,
        "messages": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "overhead_p50_ms": round(statistics.median(latencies) * 1000 - delay_ms, 1),
    }
    if wall_s is not None:
        result["throughput_msg_s"] = round(len(latencies) / wall_s, 1)
    return result


async def run(messages: int, contacts: int, delays_ms: list[float]) -> list[dict[str, object]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        async with Simulator() as simulator, SimulatorClient(simulator.base_url) as sim:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                account="bench",
                sessions_dir=Path(folder) / "sessions",
                whatsapp_url=simulator.base_url,
                gemini_base_url=simulator.gemini_base_url,
                gemini_api_key="bench",  # type: ignore[arg-type]
                mongodb_uri="memory://",
                personas_dir=PROJECT_ROOT / "config" / "personas",
                max_concurrent_replies=contacts,
                log_level="WARNING",
                **UNPACED,  # type: ignore[arg-type]
            )
            async with Application(settings) as app:
                assert app.whatsapp is not None
                async with sim.phone("15550100000") as phone:
                    await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, TIMEOUT_S)
                await sim.link()
                await app.whatsapp.wait_until_connected(TIMEOUT_S)
                await sequential(sim, 3)  # warm-up: first page calls, SDK session
                for delay_ms in delays_ms:
                    await sim.gemini_behaviour(delay_ms=delay_ms)
                    results.append(summary("sequential", delay_ms, await sequential(sim, messages)))
                    wall_s, latencies = await concurrent(sim, contacts, messages)
                    results.append(summary(f"concurrent x{contacts}", delay_ms, latencies, wall_s))
    return results


def table(results: list[dict[str, object]]) -> str:
    columns = ["scenario", "model_delay_ms", "messages", "p50_ms", "p95_ms", "max_ms", "overhead_p50_ms",
               "throughput_msg_s"]  # fmt: skip
    rows = [columns] + [[str(result.get(column, "")) for column in columns] for result in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--contacts", type=int, default=8)
    parser.add_argument("--model-delay-ms", type=float, nargs="+", default=[0.0, 500.0])
    args = parser.parse_args()
    logger.remove()
    logger.add(lambda line: None)  # the daemon's logs would drown the numbers
    results = asyncio.run(run(args.messages, args.contacts, args.model_delay_ms))
    for result in results:
        print(json.dumps(result))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
