"""wa-js goes into a page with WhatsApp's Content-Security-Policy (no inline scripts) and defines WPP.

wa-js cannot become ready without the real WhatsApp Web, and this test does not expect it to.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from playwright.async_api import Browser

from bot.settings import DEFAULT_WA_JS, PROJECT_ROOT
from bot.whatsapp.injection import install_bridge

from ..local_server import serve

CSP = "default-src 'self'; script-src 'self'; connect-src 'self'"
PAGE = """<!doctype html><html><head><title>WhatsApp</title></head><body>
<div id="app">loading</div>
<script>window.inlineScriptRan = true;</script>
<script src="/app.js"></script>
</body></html>"""


@pytest.fixture
async def csp_site() -> AsyncIterator[str]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": CSP})

    async def script(_: web.Request) -> web.Response:
        return web.Response(text="window.appScriptRan = true;", content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/app.js", script)
    async with serve(app) as base_url:
        yield base_url


async def test_wa_js_is_injected_despite_the_content_security_policy(browser: Browser, csp_site: str) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(csp_site)
        # The policy is in force: the page's own inline script was blocked, its external one ran.
        assert await page.evaluate("() => [window.inlineScriptRan === true, window.appScriptRan === true]") == [
            False,
            True,
        ]
        assert await page.evaluate("() => typeof window.WPP") == "undefined"

        await install_bridge(page, DEFAULT_WA_JS)

        pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"]["@wppconnect/wa-js"]
        state = await page.evaluate(
            """() => ({
                type: typeof window.WPP,
                version: WPP.version,
                analyticsOff: WPP.config.disableGoogleAnalytics,
                hasOn: typeof WPP.on,
                bridge: typeof window.__waBot === "object",
            })"""
        )
        assert state == {"type": "object", "version": pinned, "analyticsOff": True, "hasOn": "function", "bridge": True}

        # Installing again (a second load event) neither re-injects nor re-subscribes.
        await page.evaluate("() => { window.WPP.__marker = 1; }")
        await install_bridge(page, DEFAULT_WA_JS)
        assert await page.evaluate("() => window.WPP.__marker") == 1
    finally:
        await context.close()
