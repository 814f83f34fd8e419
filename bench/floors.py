"""The floor the browser itself sets, measured before the daemon starts on the same simulator and machine.

A plain Playwright page on the fake WhatsApp Web, nothing of the bot in it:
- binding floor: the simulator pushes a message, a chat.new_message listener in the page calls an
  `expose_binding` callback; from the push (the simulator's push time, read over its control API once all
  samples are in: the simulator runs in its own process, on the same wall clock) to the callback in Python;
- send floor: `WPP.chat.sendTextMessage` in `page.evaluate`, until it resolves (the simulator has recorded the
  message as sent before it answers).
The page is closed before the daemon starts: one account has one page at a time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import async_playwright

from bench.stats import latency_figure
from bot.simulator.client import SimulatorClient
from bot.whatsapp.browser import chromium_flags, find_chromium

TIMEOUT_S = 30.0
FLOOR_CONTACT = "15550300001"
LISTEN = "() => WPP.on('chat.new_message', (msg) => window.benchFloor(msg.id._serialized))"
SEND = "([chat, text]) => WPP.chat.sendTextMessage(chat, text).then((result) => result.id)"


async def measure_floors(base_url: str, sim: SimulatorClient, samples: int) -> dict[str, Any]:
    """{"chromium": version, "binding": figure, "send": figure}, `samples` of each, after a few warm-ups."""
    arrived: dict[str, float] = {}
    changed = asyncio.Event()

    def on_binding(_source: Any, key: str) -> None:
        arrived[key] = time.time()
        changed.set()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(find_chromium(playwright)), headless=True, args=chromium_flags()
        )
        try:
            context = await browser.new_context()
            page = await context.new_page()
            await page.expose_binding("benchFloor", on_binding)
            await page.goto(base_url)
            async with sim.phone(FLOOR_CONTACT) as phone:
                await phone.wait_for_status(lambda status: status["qr_pages"] >= 1, TIMEOUT_S)
            await sim.link()
            await page.wait_for_function("() => window.WPP && WPP.conn.isMainReady()", timeout=TIMEOUT_S * 1000)
            await page.evaluate(LISTEN)

            keys: list[str] = []
            for index in range(samples + 3):
                key = await sim.send(FLOOR_CONTACT, f"floor message {index}", name="Floor")
                async with asyncio.timeout(TIMEOUT_S):
                    while key not in arrived:
                        changed.clear()
                        await changed.wait()
                if index >= 3:
                    keys.append(key)
            pushed = await sim.pushed()
            binding = [arrived[key] - pushed[key] for key in keys]

            send: list[float] = []
            chat = f"{FLOOR_CONTACT}@c.us"
            for index in range(samples + 3):
                started = time.perf_counter()
                await page.evaluate(SEND, [chat, f"floor send {index}"])
                if index >= 3:
                    send.append(time.perf_counter() - started)
            await context.close()
            return {"chromium": browser.version, "binding": latency_figure(binding), "send": latency_figure(send)}
        finally:
            await browser.close()
