"""Logging setup: loguru for the bot, with the standard-library loggers of our libraries routed into it."""

from __future__ import annotations

import logging
import sys

from loguru import logger

FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> {name}: {message}"


class _InterceptHandler(logging.Handler):
    """Sends records of pymongo, google-genai, aiohttp, ... to loguru, so there is one log stream."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO") -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, format=FORMAT, backtrace=False, diagnose=False)
    # Libraries are chatty below WARNING; their warnings and errors matter.
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
