"""The link survives a kill -9 of Chromium seconds after linking, as the real site's IndexedDB keys do."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from bot.simulator import Simulator

CHROMIUM = os.environ.get("SIM_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT_S = 20.0
DEVTOOLS_RE = re.compile(rb"DevTools listening on (ws://\S+)")
MAIN_READY_JS = """() => new Promise((resolve) => WPP.loader.onReady(() => {
  if (WPP.conn.isMainReady()) resolve(true); else WPP.on('conn.main_ready', () => resolve(true));
}))"""

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


@asynccontextmanager
async def chromium_on(profile: Path, browser: Browser) -> AsyncIterator[tuple[asyncio.subprocess.Process, Page]]:
    """A Chromium of our own on a persistent profile (so it can be killed), driven over CDP."""
    args = [
        CHROMIUM,
        "--headless=new",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-gpu",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),
        "about:blank",
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(WAIT_S):
            while not (match := DEVTOOLS_RE.search(await process.stderr.readline())):
                pass
        drain = asyncio.create_task(process.stderr.read())  # keep the pipe from filling up
        cdp = await browser.browser_type.connect_over_cdp(match.group(1).decode())
        page = await cdp.contexts[0].new_page()
        yield process, page
        drain.cancel()
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)  # the process group we started, Chromium's helpers included
            await process.wait()


async def test_link_survives_kill_9_right_after_main_ready(browser: Browser, tmp_path: Path) -> None:
    async with Simulator() as sim:
        async with chromium_on(tmp_path / "profile", browser) as (process, page):
            await page.goto(sim.base_url)
            main_ready = asyncio.create_task(page.evaluate(MAIN_READY_JS))
            await page.evaluate("() => new Promise((resolve) => WPP.loader.onReady(() => resolve(true)))")
            sim.hub.dispatch(sim.state.link())
            async with asyncio.timeout(WAIT_S):
                await main_ready
            # No grace period: the token must already be durable when main_ready fires.
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

        async with chromium_on(tmp_path / "profile", browser) as (_, page):
            await page.goto(sim.base_url)
            async with asyncio.timeout(WAIT_S):
                authenticated = await page.evaluate(
                    "() => new Promise((resolve) => WPP.loader.onReady(() => resolve(WPP.conn.isAuthenticated())))"
                )
                assert authenticated is True, "the link token was lost: the page is back on the QR screen"
                await page.evaluate(MAIN_READY_JS)
            status = sim.state.status()
            assert status["linked"] is True and status["qr_pages"] == 0
