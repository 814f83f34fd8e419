"""Commands the operator sends the bot from the phone, in WhatsApp's "message yourself" chat.

Each command answers with a text for that chat: a confirmation, or what was wrong (an unknown command gets the
help). Bad input never raises: the operator is typing on a phone, and a typo deserves an answer, not a log line.
No answer starts with "/", so the bot's own answers coming back into the chat are never taken for commands.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo

from loguru import logger
from pydantic import BaseModel, Field

from bot.storage import Database
from bot.storage.database import OUTAGE_ERRORS
from bot.storage.models import Contact, utc_now
from bot.storage.personas import BUILTIN_PERSONA

PAUSE_REASON = "paused by the operator (/pause)"
# E.164: at most 15 digits with the country code; fewer than 8 is a local number or a typo.
MIN_DIGITS, MAX_DIGITS = 8, 15
MAX_PAUSE_MINUTES = 60 * 24 * 366
# What people type inside a phone number besides digits: +1 (555) 123-4567, 555.123.4567.
_NUMBER_PUNCTUATION = re.compile(r"[\s()\-.]")
_NUMBER_TOKEN = re.compile(r"\+?[\d()\-.]+")

HELP = """Commands (send them in this chat):
/status - the connection, the queue, who is paused, the breakers, today's messages
/pause <number> [minutes] - stop answering a contact (no minutes: until /resume)
/resume <number> - answer a contact again
/persona <number> <name> - the persona a contact gets
/note <number> <text> - add to your notes about a contact
/help - this list
Numbers with the country code: +15551234567, 15551234567 or +1 555 123 4567."""


class PausedContact(BaseModel):
    """A contact the bot leaves alone: paused until a time, or (until None) with auto-reply off."""

    name: str
    phone: str
    until: datetime | None = Field(None, description="the end of the pause; None: auto-reply off until resumed")
    reason: str | None = None

    @classmethod
    def of(cls, contact: Contact, now: datetime) -> PausedContact:
        until = contact.paused_until if contact.paused_at(now) and contact.auto_reply else None
        return cls(name=contact.display_name, phone=contact.phone, until=until, reason=contact.pause_reason)


class StatusReport(BaseModel):
    """What /status tells; the application builds it from its parts."""

    connection: str = Field(description="the WhatsApp connection's state")
    waiting: int = Field(description="contacts waiting for a turn")
    answering: int = Field(description="contacts being answered now")
    paused: list[PausedContact] = Field(default_factory=list)
    ai_breaker: str = Field(description="the model's circuit breaker: closed, open, half-open")
    send_breaker: str = Field(description="the sending circuit breaker")
    received_today: int | None = Field(None, description="messages stored today; None: the database did not answer")
    replies_today: int | None = None


StatusSource = Callable[[], Awaitable[StatusReport]]


def parse_number(text: str) -> str | None:
    """The digits of a phone number with its country code, as typed: +15551234567, 1 555 123-4567. None if not."""
    digits = _NUMBER_PUNCTUATION.sub("", text.strip()).removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    return digits if MIN_DIGITS <= len(digits) <= MAX_DIGITS else None


def _minutes(token: str) -> int | None:
    """A count of minutes, as the last word of /pause; a leading zero belongs to a phone number's group."""
    if not token.isascii() or not token.isdigit() or (token.startswith("0") and token != "0") or len(token) > 6:
        return None
    return int(token)


class OperatorCommands:
    """Runs one command text and returns the answer. `status` builds the /status report; `tz` is the zone the
    operator reads times in (default: the machine's)."""

    def __init__(
        self,
        db: Database,
        status: StatusSource,
        *,
        tz: tzinfo | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._status = status
        self._tz = tz
        self._clock = clock

    async def run(self, text: str) -> str:
        """The answer to one command ("/pause 15551234567 30"); never raises for what the operator typed."""
        answer = await self._answer(text)
        # Echoed back into the chat, an answer starting with "/" (a contact's name can) would run as a command.
        return f"> {answer}" if answer.lstrip().startswith("/") else answer

    async def _answer(self, text: str) -> str:
        word, args = (*text.split(maxsplit=1), "", "")[:2]
        name = word.removeprefix("/").lower()
        handler = self._handlers().get(name)
        if handler is None:
            return f"Unknown command {word}.\n{HELP}" if name != "help" else HELP
        try:
            return await handler(args.strip())
        except OUTAGE_ERRORS:
            return "The database is not answering, so nothing was changed. Try again in a moment."
        except Exception:
            logger.exception("the operator's command {!r} failed", word)
            return f"Sorry, {word} failed: see the bot's log."

    def _handlers(self) -> dict[str, Callable[[str], Awaitable[str]]]:
        return {
            "status": self._show_status,
            "pause": self._pause,
            "resume": self._resume,
            "persona": self._persona,
            "note": self._note,
        }

    async def _show_status(self, _: str) -> str:
        report = await self._status()
        lines = [
            f"WhatsApp: {report.connection}",
            f"Contacts waiting: {report.waiting}, being answered: {report.answering}",
            f"AI: {report.ai_breaker}, sending: {report.send_breaker}",
        ]
        if report.received_today is None:
            lines.append("Messages today: unknown (the database is not answering)")
        else:
            lines.append(f"Messages today: {report.received_today} received, {report.replies_today or 0} replies")
        if not report.paused:
            lines.append("Paused: nobody")
        else:
            lines.append(f"Paused ({len(report.paused)}):")
            for paused in report.paused:
                who = _who_of(paused.name, paused.phone)
                when = f"until {self._time(paused.until)}" if paused.until else "until /resume"
                lines.append(f"- {who}, {when}" + (f" ({paused.reason})" if paused.reason else ""))
        return "\n".join(lines)

    async def _pause(self, args: str) -> str:
        tokens = args.split()
        usage = "Usage: /pause <number> [minutes], e.g. /pause +15551234567 30"
        if not tokens:
            return usage
        number, minutes = parse_number(args), None
        # "15551234567 30" also reads as one number; a contact the bot knows by the whole of it wins.
        if len(tokens) > 1 and (last := _minutes(tokens[-1])) is not None:
            shorter = parse_number(" ".join(tokens[:-1]))
            if shorter is not None and (number is None or await self._db.contacts.find(number) is None):
                number, minutes = shorter, last
        if number is None:
            return f"{args!r} is not a phone number with its country code. {usage}"
        if minutes is not None and not 1 <= minutes <= MAX_PAUSE_MINUTES:
            return f"Pause for 1 to {MAX_PAUSE_MINUTES} minutes, or give no minutes to pause until /resume."
        contact = await self._db.contacts.find(number)
        contact_id = contact.id if contact is not None else f"{number}@c.us"  # may be paused before writing
        who = _who(contact, number) if contact is not None else f"+{number} (who has not written yet)"
        if minutes is None:
            await self._db.contacts.set_flags(contact_id, auto_reply=False)
            return f"Auto-reply is off for {who}: the bot leaves them to you until /resume +{number}."
        until = self._clock() + timedelta(minutes=minutes)
        paused = await self._db.contacts.pause(contact_id, until, PAUSE_REASON)
        if paused.paused_until is not None and paused.paused_until > until:
            return f"{who} was already paused for longer: until {self._time(paused.paused_until)}, kept."
        return f"Paused {who} for {minutes} min: no answers until {self._time(until)}."

    async def _resume(self, args: str) -> str:
        number = parse_number(args)
        if number is None:
            return f"{args!r} is not a phone number with its country code. Usage: /resume <number>"
        contact = await self._db.contacts.find(number)
        if contact is None:
            return f"No contact with the number +{number}."
        await self._db.contacts.unpause(contact.id)
        contact = await self._db.contacts.set_flags(contact.id, auto_reply=True)
        blocked = " They are still blocked, though." if contact.blocked else ""
        return f"Resumed {_who(contact, number)}: the bot answers their next message.{blocked}"

    async def _persona(self, args: str) -> str:
        tokens = args.split()
        usage = "Usage: /persona <number> <persona>, e.g. /persona +15551234567 support"
        if len(tokens) < 2:
            return usage
        name = tokens[-1]
        number = parse_number(" ".join(tokens[:-1]))
        if number is None:
            return f"{' '.join(tokens[:-1])!r} is not a phone number with its country code. {usage}"
        known = {persona.id: persona for persona in await self._db.personas.list()}
        if name not in known and name != BUILTIN_PERSONA.id:
            names = ", ".join(sorted(known)) or BUILTIN_PERSONA.id
            return f'There is no persona "{name}". Personas: {names}.'
        contact = await self._db.contacts.find(number)
        if contact is None:
            return f"No contact with the number +{number}."
        await self._db.contacts.set_persona(contact.id, name)
        speaks_as = known[name].name if name in known else BUILTIN_PERSONA.name
        return f'{_who(contact, number)} now gets the persona "{name}" ({speaks_as}).'

    async def _note(self, args: str) -> str:
        usage = "Usage: /note <number> <text>, e.g. /note +15551234567 prefers mornings"
        readings = _number_then_text(args)
        if not readings:
            return usage
        # "+1 555 123 4567 5 kids": the number is the reading that names a contact.
        for number, text in readings:
            if (contact := await self._db.contacts.find(number)) is not None:
                await self._db.contacts.add_note(contact.id, text)
                return f"Noted for {_who(contact, number)}: {text}"
        return f"No contact with the number +{readings[-1][0]}."

    def _time(self, moment: datetime) -> str:
        local = moment.astimezone(self._tz)
        today = self._clock().astimezone(self._tz).date()
        return f"{local:%H:%M}" if local.date() == today else f"{local:%a %d %b %H:%M}"


def _number_then_text(args: str) -> list[tuple[str, str]]:
    """The ways to read /note's arguments as a number (leading number-like words) and a text, longest number
    first; the text has at least one word."""
    tokens = args.split()
    leading = 0
    while leading < len(tokens) and _NUMBER_TOKEN.fullmatch(tokens[leading]):
        leading += 1
    readings = []
    for end in range(min(leading, len(tokens) - 1), 0, -1):
        number = parse_number(" ".join(tokens[:end]))
        if number is not None:
            readings.append((number, " ".join(tokens[end:])))
    return readings


def _who(contact: Contact | None, number: str) -> str:
    return _who_of(contact.display_name, contact.phone) if contact is not None else f"+{number}"


def _who_of(name: str, phone: str) -> str:
    return f"+{phone}" if name == phone else f"{name} (+{phone})"
