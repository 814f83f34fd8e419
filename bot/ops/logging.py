"""Logging setup: loguru for the bot, with the standard-library loggers of our libraries routed into it.

Readable lines on a terminal, one JSON object per line under journald (or LOG_FORMAT=json), an optional rotated
file, and privacy in one place: the patcher below masks phone numbers and chat ids in every record's message,
extras and traceback, and replaces message text passed as the `text` extra by its length. Text formatted into a
message goes through `private()`, because once formatted the patcher cannot tell a contact's words from ours.
LOG_SHOW_PRIVATE=true turns all of it off, for debugging.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record
    from pydantic import ValidationError

    from bot.settings import Settings

LogFormat = Literal["auto", "text", "json"]

FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> {name}: {message}"
# The journey tags shown on a terminal; JSON lines carry every extra.
TEXT_TAGS = ("msg_id", "turn_id")
# Extras that hold a message's text: logged as their length.
PRIVATE_TEXT_KEYS = frozenset({"text"})
# Keys of a JSON line; an extra of the same name is written as extra_<name>.
_BASE_KEYS = frozenset({"time", "level", "message", "logger", "function", "line", "exception"})
# Where this module keeps what it computed for the format functions, out of the JSON extras.
_TAGS = "_tags"
_JSON = "_json"
_TRACEBACK = "_traceback"

# A chat id (15551234567@c.us, a group's 120363...@g.us or 15551234567-1609459200@g.us, 1234...@lid), or a run of
# 7+ digits standing alone (a phone number, +15551234567). The lookarounds leave digits inside ids alone (hex
# message ids, uuids, 3EB0...), so ids stay greppable; "_" is allowed before, as in WhatsApp's message ids
# (false_15551234567@c.us_3EB0...).
_NUMBERS = re.compile(
    r"(?<![0-9A-Za-z.])"
    r"(?:(?P<chat>[0-9][0-9-]{4,})@(?P<server>c\.us|g\.us|lid|s\.whatsapp\.net)"
    r"|(?P<plus>\+?)(?P<digits>[0-9]{7,})(?![0-9A-Za-z]))"
)


def _masked(match: re.Match[str]) -> str:
    chat = match["chat"]
    if chat is not None:
        return f"***{chat[-4:]}@{match['server']}"
    # Only the last 4 digits: enough to tell contacts apart, not enough to call them.
    return f"{match['plus']}***{match['digits'][-4:]}"


def mask(text: str) -> str:
    """`text` with every phone number and chat id masked to its last 4 digits (always; see `setup_logging`)."""
    return _NUMBERS.sub(_masked, text)


def text_length(text: str) -> str:
    """What a log line shows in place of a message's text."""
    return f"<{len(text)} chars>"


@dataclass(slots=True)
class _Privacy:
    show: bool = False


_privacy = _Privacy()


class Private:
    """A message's text in a log line: `logger.info("said {}", private(text))` shows `<N chars>`, or the text
    itself with LOG_SHOW_PRIVATE=true. Masked unless set up otherwise, so a line logged before `setup_logging`
    (or in a test) does not leak either."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __format__(self, spec: str) -> str:
        return format(self.text if _privacy.show else text_length(self.text), spec)

    def __str__(self) -> str:
        return format(self)

    __repr__ = __str__


def private(text: str) -> Private:
    """Mark a message's text for a log line (see `Private`)."""
    return Private(text)


def invalid_shape(error: ValidationError) -> str:
    """What was wrong with a payload, without its values: pydantic's message quotes the input (texts, numbers)."""
    problems = error.errors(include_input=False, include_url=False)
    shown = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '(root)'}: {problem['msg']}" for problem in problems[:5]
    )
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"{len(problems)} problem(s): {shown}{more}"


def _mask_value(key: str, value: Any) -> Any:
    if key in PRIVATE_TEXT_KEYS and isinstance(value, str):
        return text_length(value)
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {name: _mask_value(str(name), item) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value("", item) for item in value]
    return mask(str(value))


def _patch(record: Record) -> None:
    """The one place private data leaves the log: runs on every record that passes the level, before any sink."""
    if _privacy.show:
        return
    record["message"] = mask(record["message"])
    extra = record["extra"]
    for key, value in extra.items():
        extra[key] = _mask_value(key, value)
    exception = record["exception"]
    if exception is not None:
        # The traceback is rendered here, masked, and the exception dropped: its message can hold a chat id.
        rendered = "".join(traceback.format_exception(exception.type, exception.value, exception.traceback))
        extra[_TRACEBACK] = mask(rendered).rstrip("\n")
        record["exception"] = None


def _tags(record: Record) -> str:
    extra = record["extra"]
    shown = [f"{key}={extra[key]}" for key in TEXT_TAGS if extra.get(key) is not None]
    return f" [{' '.join(shown)}]" if shown else ""


def _text_format(record: Record) -> str:
    record["extra"][_TAGS] = _tags(record)
    template = FORMAT + "{extra[" + _TAGS + "]}"
    if _TRACEBACK in record["extra"]:
        template += "\n{extra[" + _TRACEBACK + "]}"
    return template + "\n{exception}"


def _json_line(record: Record) -> str:
    line: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
        "function": record["function"],
        "line": record["line"],
    }
    for key, value in record["extra"].items():
        if not key.startswith("_"):
            line[f"extra_{key}" if key in _BASE_KEYS else key] = value
    exception = record["exception"]
    if _TRACEBACK in record["extra"]:
        line["exception"] = record["extra"][_TRACEBACK]
    elif exception is not None:
        rendered = traceback.format_exception(exception.type, exception.value, exception.traceback)
        line["exception"] = "".join(rendered).rstrip("\n")
    return json.dumps(line, ensure_ascii=False, default=str)


# journald reads a "<N>" prefix (sd-daemon(3)) as the line's priority, so `journalctl -p warning` works.
_SYSLOG_PRIORITY = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "SUCCESS": 5, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def _json_format(*, priority_prefix: bool) -> Callable[[Record], str]:
    def format_record(record: Record) -> str:
        line = _json_line(record)
        if priority_prefix:
            line = f"<{_SYSLOG_PRIORITY.get(record['level'].name, 6)}>{line}"
        record["extra"][_JSON] = line
        return "{extra[" + _JSON + "]}\n"

    return format_record


def resolve_format(log_format: LogFormat, environ: Mapping[str, str] | None = None) -> Literal["text", "json"]:
    """auto: JSON under systemd (journald sets JOURNAL_STREAM for the services it logs), text elsewhere."""
    if log_format != "auto":
        return log_format
    environ = os.environ if environ is None else environ
    return "json" if environ.get("JOURNAL_STREAM") else "text"


def _stream_is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether `stream` itself goes to the journal (JOURNAL_STREAM is "device:inode" of that stream)."""
    value = environ.get("JOURNAL_STREAM", "")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return value == f"{status.st_dev}:{status.st_ino}"


def _private_file(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _compress(path: str) -> None:
    """gzip a rotated log file, keeping it 0600 (loguru's own "gz" would leave the umask's mode)."""
    with open(path, "rb") as source, open(f"{path}.gz", "wb", opener=_private_file) as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", filename=os.path.basename(path)) as target:
            shutil.copyfileobj(source, target)
    os.remove(path)


def _retention(value: str) -> str | int:
    """A bare number keeps that many files; anything else is a duration ("14 days") for loguru."""
    return int(value) if value.strip().isdigit() else value


class _InterceptHandler(logging.Handler):
    """Sends records of pymongo, google-genai, aiohttp, ... to loguru, so there is one log stream."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(
    level: str = "INFO",
    *,
    log_format: LogFormat = "auto",
    file: Path | None = None,
    rotation: str = "50 MB",
    retention: str = "14 days",
    show_private: bool = False,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Log to `stream` (stderr) in the resolved format and, if `file` is given, to that file too (same format,
    mode 0600, rotated at `rotation`, compressed, removed after `retention`). Raises ValueError for a rotation
    or retention loguru does not understand."""
    environ = os.environ if environ is None else environ
    stream = sys.stderr if stream is None else stream
    chosen = resolve_format(log_format, environ)
    _privacy.show = show_private
    logger.remove()
    logger.configure(patcher=_patch)
    sink_format = (
        _json_format(priority_prefix=_stream_is_journal(stream, environ)) if chosen == "json" else _text_format
    )
    colorize = chosen == "text" and stream.isatty()
    logger.add(stream, level=level, format=sink_format, colorize=colorize, backtrace=False, diagnose=False)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.exists():
            file.chmod(0o600)  # a file left by an older version, or created by hand
        file_format = _json_format(priority_prefix=False) if chosen == "json" else _text_format
        logger.add(
            str(file),
            level=level,
            format=file_format,
            colorize=False,
            backtrace=False,
            diagnose=False,
            rotation=rotation,
            retention=_retention(retention),
            compression=_compress,
            encoding="utf-8",
            opener=_private_file,
        )
    # Libraries are chatty below WARNING; their warnings and errors matter.
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)


def setup_logging_from(settings: Settings) -> None:
    """`setup_logging` with the LOG_* settings. Raises ValueError naming the setting loguru could not read."""
    try:
        setup_logging(
            settings.log_level,
            log_format=settings.log_format,
            file=settings.log_file,
            rotation=settings.log_rotation,
            retention=settings.log_retention,
            show_private=settings.log_show_private,
        )
    except (ValueError, TypeError) as error:
        logger.remove()
        logger.add(sys.stderr, level=settings.log_level, format=FORMAT)
        raise ValueError(f"setting LOG_ROTATION or LOG_RETENTION: {error}") from None
