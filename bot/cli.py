"""Command line: `python run_bot.py run|demo|login`, and the operator's tools (bot/tools: contacts, personas,
kb). Signals and exit codes are handled here, in one place.

Exit codes (bot/errors.py, also in the README): 0 stopped on request; 1 a bug (traceback in the log); 2 a
setting has a wrong value; 3 something on this machine must be fixed first; 4 WhatsApp waits for a person (link
the phone); 5 a service stayed unreachable (worth a later restart).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from loguru import logger
from pydantic import SecretStr

from bot.app import Application
from bot.errors import EXIT_INTERNAL, EXIT_OK, EXIT_SETTINGS, NeedsOperator, StartupError
from bot.ops.logging import setup_logging_from
from bot.ops.tasks import first_completed
from bot.settings import MEMORY_URI, PROJECT_ROOT, Settings, SettingsError, load_settings
from bot.simulator import Simulator
from bot.storage import Database
from bot.tools import backup as backup_tools
from bot.tools import contacts as contact_tools
from bot.tools import doctor as doctor_tools
from bot.tools import knowledge as knowledge_tools
from bot.tools import personas as persona_tools
from bot.tools import schedule as schedule_tools
from bot.tools import service as service_tools
from bot.tools import status as status_tools
from bot.tools.demo import load_demo_data
from bot.whatsapp import ConnectionState, IncomingMessage, QrPresenter, WhatsAppClient
from bot.whatsapp.login import HOW_TO_PAIR, HOW_TO_SCAN, format_pairing_code

DEMO_ACCOUNT = "demo"
DEMO_PORT = 8080
LOGIN_TIMEOUT_S = 300.0


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
    if settings.mongodb_uri is None:
        raise StartupError("MONGODB_URI is not set: point it at your MongoDB (mongodb://host:27017)")
    if settings.gemini_api_key is None:
        raise StartupError("GEMINI_API_KEY is not set (get one at https://aistudio.google.com/apikey)")
    async with Application(settings) as app:
        # Ends on a signal, or by raising when WhatsApp had to be given up (the exception carries the exit code).
        await first_completed(wait_for_stop_signal(), app.wait_failed())


async def demo(args: argparse.Namespace, settings: Settings) -> None:
    simulator = Simulator(host="127.0.0.1", port=args.port)
    try:
        await simulator.start()
    except OSError as error:
        raise StartupError(f"cannot listen on 127.0.0.1:{args.port} ({error.strerror}): choose --port") from error
    try:
        demo_settings = settings.model_copy(update=demo_overrides(settings, simulator, show_browser=args.show_browser))
        print(demo_banner(demo_settings, simulator), flush=True)
        database = await Database.from_settings(demo_settings)
        try:
            await database.ensure_indexes()
            logger.info(await load_demo_data(database, demo_settings))
            async with Application(demo_settings, database=database) as app:
                await first_completed(wait_for_stop_signal(), app.wait_failed())
        finally:
            await database.close()
    finally:
        await simulator.stop()


def demo_overrides(settings: Settings, simulator: Simulator, *, show_browser: bool) -> dict[str, object]:
    overrides: dict[str, object] = {
        "account": DEMO_ACCOUNT,
        "whatsapp_url": simulator.base_url,
        "headless": not show_browser,
        # The person trying the demo links from the /phone page, whenever they get to it.
        "login_max_qr_rounds": 0,
        "login_qr_text": False,
    }
    if "status_port" not in settings.model_fields_set:
        # Any free port: a real bot on this machine may hold the default one. The log names the one taken.
        overrides["status_port"] = 0
    if not settings.personas_dir.is_dir():
        # Started from another folder: the shipped personas, which the demo's sample data is written for.
        overrides["personas_dir"] = PROJECT_ROOT / "config" / "personas"
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


async def login(args: argparse.Namespace, settings: Settings) -> None:
    """Link the account once, interactively (QR or pairing code), then exit; the service needs no QR after."""

    async def leave_unread(message: IncomingMessage) -> None:
        # Not answered here: it stays unread on WhatsApp, and the daemon answers it when it starts.
        return None

    client = WhatsAppClient(
        settings,
        on_message=leave_unread,
        presenter=QrPresenter.to_stderr(settings.qr_png_path, as_text=args.phone is None),
    )
    try:
        await client.prepare()
        client.start()
        waiting = client.wait_for_state(
            ConnectionState.NEEDS_LOGIN, ConnectionState.CONNECTED, timeout_s=settings.whatsapp_ready_timeout_s * 2
        )
        # wait_failed only ever raises: the first to finish is the state, or why the connection was given up.
        state = await first_completed(waiting, client.wait_failed())
        if state is ConnectionState.CONNECTED:
            print(f"Account {settings.account!r} is already linked; start the bot.", flush=True)
            return
        if args.phone is not None:
            code = await client.request_pairing_code(args.phone)
            print(f"Pairing code: {format_pairing_code(code)}\n{HOW_TO_PAIR}", flush=True)
        else:
            print(f"{HOW_TO_SCAN} (also saved as {settings.qr_png_path})", flush=True)
        try:
            await first_completed(
                client.wait_until_connected(args.timeout), client.wait_failed(), wait_for_stop_signal()
            )
        except TimeoutError:
            raise NeedsOperator(f"the phone did not link within {args.timeout:g} s; run `login` again") from None
        if client.state is ConnectionState.CONNECTED:
            print(f"Linked: account {settings.account!r} is ready; start the bot.", flush=True)
    finally:
        await client.stop()


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

    login_parser = commands.add_parser(
        "login", help="link the WhatsApp account once (QR code, or a pairing code with --phone), then exit"
    )
    login_parser.add_argument(
        "--phone", help="the account's number with country code (+15551234567): print a pairing code instead of a QR"
    )
    login_parser.add_argument(
        "--timeout",
        type=float,
        default=LOGIN_TIMEOUT_S,
        help=f"seconds to wait for the phone (default {LOGIN_TIMEOUT_S:g})",
    )
    login_parser.set_defaults(handler=login)

    for tools in (
        contact_tools,
        persona_tools,
        knowledge_tools,
        schedule_tools,
        backup_tools,
        status_tools,
        doctor_tools,
        service_tools,
    ):
        tools.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        setup_logging_from(settings)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    handler: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, None]] = args.handler
    try:
        asyncio.run(handler(args, settings))
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:
        logger.exception("the bot stopped on an unexpected error")
        return EXIT_INTERNAL
    return EXIT_OK
