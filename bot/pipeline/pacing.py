"""Outgoing pacing: replies split to WhatsApp-sized parts, a human-looking typing delay, and send rate limits.

An account that answers instantly, in walls of text, or in bursts of hundreds of messages looks like a bot to
its contacts and to WhatsApp's abuse detection. Everything here is pure (the splitter, the delay) or takes an
injected clock and sleep (the pacer), so tests and benchmarks run it with no real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
import unicodedata
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from loguru import logger

from bot.errors import WhatsAppError
from bot.pipeline.protocols import ChatActions

if TYPE_CHECKING:
    from bot.settings import Settings

WINDOW_S = 60.0
# Clocks and event loops wake a hair early or late; a wait this short is no wait (and cannot loop forever).
_EPSILON_S = 1e-6

# Sentence ends: Latin, ellipsis, Arabic question mark, Urdu full stop, Devanagari dandas. They end a sentence
# only when whitespace (or the end) follows, so "3.5", "e.g." inside a word and URLs stay whole.
_TERMINATORS = ".!?\u2026\u203c\u2047\u2048\u2049\u061f\u06d4\u0964\u0965"
# Chinese and Japanese put no space after a sentence, so their full-width marks end one by themselves.
_CJK_TERMINATORS = "\u3002\uff01\uff1f\uff61"
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]}\u300d\u300f\uff09\u3011"
_SENTENCE_END = re.compile(rf"[{re.escape(_TERMINATORS)}]+[{_CLOSERS}]*(?=\s|$)|[{_CJK_TERMINATORS}]+[{_CLOSERS}]*")
# "e.g", "i.e", "U.S", "a.m": letters joined by single periods.
_DOTTED_ABBREVIATION = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "approx", "fig", "cf", "ca"})
# A cut right before these (or right after a zero-width joiner) would tear an emoji or a letter apart.
_ZERO_WIDTH_JOINER = "\u200d"
_EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)
_VARIATION_SELECTORS = range(0xFE00, 0xFE10)
_TAGS = range(0xE0020, 0xE0080)
_GRAPHEME_LOOKBACK = 32


def split_reply(text: str, max_chars: int) -> list[str]:
    """Split `text` into messages of at most `max_chars` characters, at sentence ends or line breaks.

    WhatsApp accepts long messages, but a person writes several short ones; a reply broken mid-sentence reads
    badly, so a part ends at the last sentence end (or line break) that fits. A single sentence longer than a
    part is cut at its last space that fits, and a single "word" longer than a part (a pasted blob, a language
    written without spaces) mid-word, never inside an emoji or before a combining mark. Lengths count
    characters (code points), not bytes.

    A text that fits, or any text when `max_chars` is 0 or less, comes back unchanged as `[text]`, so short
    replies are sent exactly as written. Parts of a longer one are stripped of surrounding whitespace, and
    empty parts are dropped.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return [text]
    boundaries = _sentence_boundaries(text)
    parts: list[str] = []
    start = _skip_space(text, 0)
    while start < len(text):
        rest = text[start:].rstrip()
        if len(rest) <= max_chars:
            parts.append(rest)
            break
        limit = start + max_chars
        cut = (
            _last_boundary(boundaries, start, limit) or _last_space(text, start, limit) or _safe_cut(text, start, limit)
        )
        part = text[start:cut].strip()
        if part:
            parts.append(part)
        start = _skip_space(text, cut)
    return parts


def _sentence_boundaries(text: str) -> list[int]:
    """Sorted positions where a part may end: after a sentence's last mark, and at each line break."""
    positions = [match.end() for match in _SENTENCE_END.finditer(text) if not _is_abbreviation(text, match)]
    positions.extend(match.start() for match in re.finditer("\n", text))
    return sorted(set(positions))


def _is_abbreviation(text: str, match: re.Match[str]) -> bool:
    """Whether a single period followed by a space is an abbreviation or a list number, not a sentence end."""
    if match.group() != ".":
        return False
    line_start = text.rfind("\n", 0, match.start()) + 1
    before = text[line_start : match.start()]
    words = before.split()
    word = words[-1].lstrip("([{\"'\u201c\u2018\u00ab\u00bf\u00a1") if words else ""
    if _DOTTED_ABBREVIATION.fullmatch(word) or word.lower() in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial, as in "J. Smith"
        return True
    if word.isdigit() and len(word) <= 3 and before.strip() == word:  # "2. Second point"
        return True
    following = text[match.end() :].lstrip()[:1]
    # "etc. and so on", "approx. ten": a sentence does not go on in lower case.
    return following.islower()


def _last_boundary(boundaries: list[int], start: int, limit: int) -> int | None:
    index = bisect_right(boundaries, limit) - 1
    if index >= 0 and boundaries[index] > start:
        return boundaries[index]
    return None


def _last_space(text: str, start: int, limit: int) -> int | None:
    for position in range(limit, start, -1):
        if text[position].isspace():
            return position
    return None


def _safe_cut(text: str, start: int, limit: int) -> int:
    """`limit`, moved back (a little) so the cut does not fall inside an emoji sequence or before a combining mark."""
    for cut in range(limit, max(start, limit - _GRAPHEME_LOOKBACK), -1):
        if not _joins_previous(text, cut):
            return cut
    return limit


def _joins_previous(text: str, position: int) -> bool:
    char, previous = text[position], text[position - 1]
    code = ord(char)
    if char == _ZERO_WIDTH_JOINER or previous == _ZERO_WIDTH_JOINER:
        return True
    if code in _EMOJI_MODIFIERS or code in _VARIATION_SELECTORS or code in _TAGS or code == 0x20E3:
        return True
    if unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    # A flag is two regional indicators; counting back finds whether this one starts a pair or ends one.
    if 0x1F1E6 <= code <= 0x1F1FF:
        run = 0
        while position - run - 1 >= 0 and 0x1F1E6 <= ord(text[position - run - 1]) <= 0x1F1FF:
            run += 1
        return run % 2 == 1
    return False


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def typing_delay_s(
    text: str, *, chars_per_s: float, max_s: float, jitter: float, rng: random.Random | None = None
) -> float:
    """How long to show "typing..." before sending `text`: its length at a human typing speed.

    The delay is capped (a long reply must not keep a contact waiting, nor hold a worker past shutdown) and
    varied by up to +/- `jitter` of itself, since identical delays for identical lengths look mechanical.
    0 when `chars_per_s` or `max_s` is 0 or less: pacing is off (tests, benchmarks).
    """
    if chars_per_s <= 0 or max_s <= 0:
        return 0.0
    base = len(text) / chars_per_s
    spread = min(max(jitter, 0.0), 1.0)
    factor = 1.0 + (rng.uniform(-spread, spread) if rng is not None else random.uniform(-spread, spread))
    return min(max(base * factor, 0.0), max_s)


class SendPacer:
    """Holds each outgoing message back until it may be sent: a gap after the last message to the same
    contact, and at most `max_messages_per_minute` messages across all contacts in any 60 seconds.

    The gap keeps split replies from arriving as one burst; the global cap keeps the account under the send
    rates that get WhatsApp accounts banned while letting ordinary traffic through untouched. Messages held by
    the global cap go in the order they asked (first come, first served), so no contact starves.

    Per-contact state is dropped once a contact has been quiet longer than the gap, so a daemon that hears
    from thousands of contacts over months keeps only the last few seconds' worth.
    """

    def __init__(
        self,
        *,
        min_gap_per_contact_s: float,
        max_messages_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._gap = max(min_gap_per_contact_s, 0.0)
        self._cap = max(max_messages_per_minute, 0)
        self._clock = clock
        self._sleep = sleep
        # Insertion order is send order, and the clock never goes back, so the oldest entries come first.
        self._last_sent: OrderedDict[str, float] = OrderedDict()
        self._window: deque[float] = deque()
        # asyncio.Lock wakes waiters in the order they queued: that is what makes the cap first come, first served.
        self._turn = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPacer:
        return cls(
            min_gap_per_contact_s=settings.min_gap_per_contact_s,
            max_messages_per_minute=settings.max_messages_per_minute,
        )

    @property
    def tracked_contacts(self) -> int:
        """Contacts whose gap may still hold a message back (the rest have been forgotten)."""
        return len(self._last_sent)

    async def wait_turn(self, chat_id: str) -> float:
        """Wait until a message to `chat_id` may be sent, count it as sent, and return the seconds waited."""
        if self._gap <= 0 and self._cap <= 0:
            return 0.0
        started = self._clock()
        while True:
            await self._wait_for_gap(chat_id)
            if self._cap <= 0:
                if self._gap_left(chat_id, self._clock()) <= _EPSILON_S:
                    break
                continue
            async with self._turn:
                # Another message to the same contact may have gone first; it must not cost others their turn.
                if self._gap_left(chat_id, self._clock()) > _EPSILON_S:
                    continue
                await self._wait_for_window(chat_id)
                break
        now = self._clock()
        self._record(chat_id, now)
        return now - started

    async def _wait_for_gap(self, chat_id: str) -> None:
        now = self._clock()
        self._forget_quiet_contacts(now)
        left = self._gap_left(chat_id, now)
        if left > _EPSILON_S:
            await self._sleep(left)

    async def _wait_for_window(self, chat_id: str) -> None:
        while True:
            now = self._clock()
            while self._window and now - self._window[0] >= WINDOW_S - _EPSILON_S:
                self._window.popleft()
            if len(self._window) < self._cap:
                return
            left = self._window[0] + WINDOW_S - now
            logger.debug("send rate cap reached; a message to {} waits {:.1f}s", chat_id, left)
            await self._sleep(left)

    def _gap_left(self, chat_id: str, now: float) -> float:
        last = self._last_sent.get(chat_id)
        return 0.0 if last is None else last + self._gap - now

    def _record(self, chat_id: str, now: float) -> None:
        if self._cap > 0:
            self._window.append(now)
        if self._gap > 0:
            self._last_sent[chat_id] = now
            self._last_sent.move_to_end(chat_id)

    def _forget_quiet_contacts(self, now: float) -> None:
        while self._last_sent:
            chat_id, last = next(iter(self._last_sent.items()))
            if now - last < self._gap - _EPSILON_S:
                return
            del self._last_sent[chat_id]


class OutgoingPace:
    """What happens before each outgoing message: "typing..." for a time that fits its length (when typing is
    on), then the per-contact gap and the global rate. The outbox calls it as its `pace`."""

    def __init__(self, settings: Settings, chat: ChatActions, pacer: SendPacer | None = None) -> None:
        self._settings = settings
        self._chat = chat
        self._pacer = pacer or SendPacer.from_settings(settings)

    async def __call__(self, chat_id: str, text: str) -> None:
        settings = self._settings
        delay = typing_delay_s(
            text, chars_per_s=settings.typing_chars_per_s, max_s=settings.typing_max_s, jitter=settings.typing_jitter
        )
        if delay > 0:
            with contextlib.suppress(WhatsAppError):  # a courtesy: never worth failing the reply for
                await self._chat.set_typing(chat_id)
            await asyncio.sleep(delay)
        await self._pacer.wait_turn(chat_id)
