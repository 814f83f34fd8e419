"""python -m bot.simulator --port 8080: run the simulator for a person to play with (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from loguru import logger

from bot.simulator.server import Simulator


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator", description="Fake WhatsApp Web + fake Gemini on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--operator-number", default="15550000000", help="the bot's own WhatsApp number")
    parser.add_argument("--qr-refresh-s", type=float, default=20.0, help="seconds between QR refs (0: never)")
    parser.add_argument(
        "--qr-rotations-before-idle", type=int, default=6, help="automatic QR rotations before it goes idle (0: never)"
    )
    parser.add_argument("--sync-ms", type=float, default=0.0, help="how long pages stay in SYNCING before MAIN")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with Simulator(
        port=args.port,
        operator_number=args.operator_number,
        qr_refresh_s=args.qr_refresh_s,
        qr_rotations_before_idle=args.qr_rotations_before_idle,
        sync_ms=args.sync_ms,
    ) as sim:
        logger.info("WhatsApp Web (fake): {}", sim.base_url)
        logger.info("Phone (play the contacts): {}", sim.phone_url)
        logger.info("Gemini base URL (fake): {}", sim.gemini_base_url)
        logger.info("Press Ctrl-C to stop")
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss} {level: <7} {message}")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
