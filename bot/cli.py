"""Command line: `python run_bot.py run|demo`. Signals are handled here, in one place."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from bot.app import Application
from bot.errors import StartupError
from bot.ops.logging import setup_logging
from bot.settings import MEMORY_URI, Settings, SettingsError, load_settings
from bot.simulator import Simulator

DEMO_ACCOUNT = "demo"
DEMO_PORT = 8080


async def wait_for_stop_signal() -> None:
    """Return on SIGINT (Ctrl-C) or SIGTERM (systemd stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def run(args: argparse.Namespace, settings: Settings) -> None:
    if not settings.wa_js_path.is_file():
        raise StartupError(f"wa-js is missing at {settings.wa_js_path}: run `npm ci` in the project folder")
    if settings.mongodb_uri is None:
        raise StartupError("MONGODB_URI is not set: point it at your MongoDB (mongodb://host:27017)")
    if settings.gemini_api_key is None:
        raise StartupError("GEMINI_API_KEY is not set (get one at https://aistudio.google.com/apikey)")
    async with Application(settings):
        await wait_for_stop_signal()


async def demo(args: argparse.Namespace, settings: Settings) -> None:
    simulator = Simulator(host="127.0.0.1", port=args.port)
    try:
        await simulator.start()
    except OSError as error:
        raise StartupError(f"cannot listen on 127.0.0.1:{args.port} ({error.strerror}): choose --port") from error
    try:
        demo_settings = settings.model_copy(update=demo_overrides(settings, simulator, show_browser=args.show_browser))
        print(demo_banner(demo_settings, simulator), flush=True)
        async with Application(demo_settings):
            await wait_for_stop_signal()
    finally:
        await simulator.stop()


def demo_overrides(settings: Settings, simulator: Simulator, *, show_browser: bool) -> dict[str, object]:
    overrides: dict[str, object] = {
        "account": DEMO_ACCOUNT,
        "whatsapp_url": simulator.base_url,
        "headless": not show_browser,
    }
    if settings.mongodb_uri is None:
        overrides["mongodb_uri"] = MEMORY_URI
    if settings.gemini_api_key is None:
        # The real google-genai SDK, pointed at the simulator's offline model.
        overrides["gemini_api_key"] = SecretStr("offline-demo")
        overrides["gemini_base_url"] = simulator.gemini_base_url
    return overrides


def demo_banner(settings: Settings, simulator: Simulator) -> str:
    offline = settings.gemini_base_url == simulator.gemini_base_url
    model = "offline demo model (set GEMINI_API_KEY to use Gemini)" if offline else f"Gemini {settings.gemini_model}"
    store = "in-memory, nothing is kept (set MONGODB_URI to keep data)" if settings.uses_memory_store else "MongoDB"
    return "\n".join(
        [
            "",
            "WhatsApp bot demo",
            f"  play a contact (open this): {simulator.phone_url}",
            f"  simulator (fake WhatsApp Web the bot drives): {simulator.base_url}",
            f"  model: {model}",
            f"  store: {store}",
            'Open the phone page, press "Link the bot" (that scans the QR), then type a message. Ctrl-C stops.',
            "",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bot.py",
        description="A daemon that answers your WhatsApp messages with Google Gemini. "
        "Settings come from the environment or a .env file: see config/bot.env.example.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    run_parser = commands.add_parser(
        "run", help="answer messages on the real WhatsApp Web (needs MONGODB_URI and GEMINI_API_KEY)"
    )
    run_parser.set_defaults(handler=run)

    demo_parser = commands.add_parser(
        "demo",
        help="run the bot against the built-in WhatsApp simulator, with the offline model unless "
        "GEMINI_API_KEY is set and the in-memory store unless MONGODB_URI is set",
    )
    demo_parser.add_argument("--port", type=int, default=DEMO_PORT, help=f"simulator port (default {DEMO_PORT})")
    demo_parser.add_argument("--show-browser", action="store_true", help="show the bot's Chromium window")
    demo_parser.set_defaults(handler=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    handler: Callable[[argparse.Namespace, Settings], Awaitable[None]] = args.handler
    try:
        asyncio.run(handler(args, settings))
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
