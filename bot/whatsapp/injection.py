"""Putting wa-js and the bridge script into a WhatsApp Web page."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from playwright.async_api import Page

from bot.errors import StartupError

BRIDGE_SOURCE = Path(__file__).with_name("bridge.js").read_text(encoding="utf-8")
# wa-js reads this before it starts; the bot must not phone home to Google Analytics.
WPP_CONFIG = {"disableGoogleAnalytics": True, "deviceName": False, "poweredBy": None}


@cache
def load_wa_js(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise StartupError(f"wa-js cannot be read at {path} (WA_JS_PATH; run `npm ci`): {error.strerror}") from error


async def install_bridge(page: Page, wa_js_path: Path) -> None:
    """Inject wa-js unless the page brings its own `window.WPP` (the simulator does), then the bridge.

    Both go in through `page.evaluate`, which runs over the DevTools protocol: WhatsApp's
    Content-Security-Policy (`script-src 'self'`) blocks the inline <script> that add_script_tag would create.
    """
    if not await page.evaluate("() => typeof window.WPP !== 'undefined'"):
        await page.evaluate("(config) => { window.WPPConfig = config; }", WPP_CONFIG)
        await page.evaluate(load_wa_js(wa_js_path))
    await page.evaluate(BRIDGE_SOURCE)
