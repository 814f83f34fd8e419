"""Outgoing pacing: replies split at sentence ends, typing delays, the per-contact gap and the global send cap.

The pacer runs on looptime's event loop, whose clock jumps to the next deadline whenever every task waits: minutes
of pacing take no real time, and concurrent waiters wake in deadline order, as they would on a real clock.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Coroutine
from typing import Any

import pytest

from bot.pipeline.pacing import SendPacer, split_reply, typing_delay_s
from bot.settings import Settings

pytestmark = pytest.mark.looptime

DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


class VirtualClock:
    """The running loop's clock. The pacer tests run under looptime, whose event loop moves its time forward
    whenever every task is waiting, so hours of pacing take no real time and concurrent waiters wake in
    deadline order, as on a real clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._offset = start - self._loop.time()  # reads `start` now, whatever the shared loop's time is
        self.sleeps: list[float] = []
        self.sleeping = asyncio.Event()  # some task is waiting for time to pass

    def __call__(self) -> float:
        return self._loop.time() + self._offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        await asyncio.sleep(seconds)

    async def run(self, *coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
        return list(await asyncio.gather(*coroutines))

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def make_pacer(clock: VirtualClock, *, gap: float = 0.0, per_minute: int = 0) -> SendPacer:
    return SendPacer(min_gap_per_contact_s=gap, max_messages_per_minute=per_minute, clock=clock, sleep=clock.sleep)


def words(text: str) -> str:
    """The text with all whitespace removed: what no split may lose, duplicate or reorder."""
    return "".join(text.split())


# split_reply


def test_a_reply_that_fits_comes_back_unchanged() -> None:
    assert split_reply("Hello there. How are you?", 1500) == ["Hello there. How are you?"]
    assert split_reply("  exactly ten ", 14) == ["  exactly ten "]
    assert split_reply("", 10) == [""]


def test_zero_means_never_split() -> None:
    text = "One sentence. " * 500
    assert split_reply(text, 0) == [text]


def test_long_mixed_text_splits_at_sentence_ends() -> None:
    sentences = [
        "The weather is lovely today.",
        "Would you like to meet for coffee?",
        "That would be wonderful!",
        "Well\u2026",
        'She said "we will see."',
        "Prices start at 3.5 euros, e.g. for a small cup, and go up to 7.25.",
        "Let me check my calendar (it is busy this week).",
        "Really?!",
        "I was thinking of the place on Main St. near the station, the one Dr. Jones likes.",
    ]
    rng = random.Random(7)
    text = ""
    while len(text) < 5000:
        text += rng.choice(sentences) + rng.choice([" ", " ", "  ", "\n"])
    text = text[:5000].rsplit(" ", 1)[0]
    assert len(text) > 4900

    for max_chars in (120, 300, 1500):
        parts = split_reply(text, max_chars)
        assert len(parts) > 1
        assert all(0 < len(part) <= max_chars for part in parts)
        assert all(part == part.strip() for part in parts)
        assert words("".join(parts)) == words(text)
        for part in parts[:-1]:
            assert part.endswith((".", "?", "!", "\u2026", '."')), part[-40:]
            assert not part.endswith(("e.g.", "St.", "Dr.", "3.", "7.")), part[-40:]
        # Parts are filled: each holds as much as fits up to the sentence that would overflow it.
        longest_sentence = max(len(sentence) for sentence in sentences)
        assert all(len(part) > max_chars - longest_sentence - 2 for part in parts[:-1])


def test_abbreviations_numbers_and_urls_stay_whole() -> None:
    text = "Take a small amount of flour, e.g. 3.5 kg of it, for the batch. Then bake it at home."
    # A cut after "e.g." would be the last "sentence end" that fits these limits.
    for max_chars in (45, 50, 60):
        parts = split_reply(text, max_chars)
        assert any("e.g. 3.5 kg" in part for part in parts), parts

    # Cuts after "Mr." or "J." would be the last "sentence ends" that fit.
    text = "It was written by J. Smith and Mr. Brown yesterday evening."
    assert split_reply(text, 40) == ["It was written by J. Smith and Mr. Brown", "yesterday evening."]
    assert split_reply(text, 24) == ["It was written by J.", "Smith and Mr. Brown", "yesterday evening."]

    url = "https://example.com/a.b/c?d=1.5&e=f"
    text = f"The full report is at {url}. Read it today, please."
    for max_chars in range(len(url), len(text)):
        parts = split_reply(text, max_chars)
        assert any(url in part for part in parts), parts
    assert split_reply(text, 60) == [f"The full report is at {url}.", "Read it today, please."]


def test_a_numbered_list_is_split_between_items() -> None:
    text = "\n".join(f"{number}. Item number {number} of the list" for number in range(1, 21))
    parts = split_reply(text, 100)
    assert all(len(part) <= 100 for part in parts)
    for part in parts:
        assert re.match(r"\d+\. Item", part), part
        assert part.endswith("of the list")


def test_paragraphs_and_lines_are_boundaries_too() -> None:
    text = "Here are the options\n\n- a long first option without a full stop\n- a second one\n- a third one"
    assert split_reply(text, 60) == [
        "Here are the options",
        "- a long first option without a full stop\n- a second one",
        "- a third one",
    ]


def test_a_sentence_longer_than_a_part_is_cut_between_words() -> None:
    text = " ".join(f"word{index}" for index in range(1000))
    parts = split_reply(text, 100)
    assert all(len(part) <= 100 for part in parts)
    assert " ".join(parts) == text  # only ever cut at a space


def test_a_64_kb_single_word_is_cut_mid_word_as_a_last_resort() -> None:
    text = "x" * 65536
    parts = split_reply(text, 1500)
    assert all(len(part) == 1500 for part in parts[:-1])
    assert len(parts) == -(-65536 // 1500)
    assert "".join(parts) == text


def test_emoji_are_never_torn_apart() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # five code points, one picture
    text = family * 300
    parts = split_reply(text, 101)
    assert "".join(parts) == text
    assert all(len(part) <= 101 and part.startswith("\U0001f468") and part.endswith("\U0001f467") for part in parts)

    flags = "\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7" * 200  # German and French flags, two indicators each
    parts = split_reply(flags, 51)
    assert "".join(parts) == flags
    assert all(len(part) % 2 == 0 for part in parts)

    thumbs = "\U0001f44d\U0001f3fd" * 300  # thumbs up with a skin tone
    parts = split_reply(thumbs, 77)
    assert "".join(parts) == thumbs
    assert all(part.startswith("\U0001f44d") for part in parts)


def test_combining_marks_stay_with_their_letter() -> None:
    text = "e\u0301" * 500  # e + combining acute accent
    parts = split_reply(text, 99)
    assert "".join(parts) == text
    assert all(part.startswith("e") for part in parts)


def test_emoji_count_as_characters_not_bytes() -> None:
    text = "\U0001f600" * 1500  # 6000 bytes in UTF-8
    assert split_reply(text, 1500) == [text]


def test_right_to_left_text_splits_at_its_sentence_ends() -> None:
    arabic = "\u0645\u0631\u062d\u0628\u0627 \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f "  # ... how are you?
    hebrew = "\u05e9\u05dc\u05d5\u05dd \u05dc\u05db\u05d5\u05dd. "  # hello to you.
    text = (arabic + hebrew) * 100
    parts = split_reply(text, 80)
    assert all(len(part) <= 80 for part in parts)
    assert all(part.endswith(("\u061f", ".")) for part in parts)
    assert words("".join(parts)) == words(text)


def test_chinese_splits_at_full_width_stops_without_spaces() -> None:
    text = "\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002\u4f60\u597d\u5417\uff1f" * 200  # no spaces at all
    parts = split_reply(text, 100)
    assert "".join(parts) == text
    assert all(len(part) <= 100 and part.endswith(("\u3002", "\uff1f")) for part in parts)


def test_zero_width_and_direction_marks_do_not_break_splitting() -> None:
    text = ("a\u200bb\u200c\u200d \u200fshalom\u200e. " + "\ufeff") * 400
    parts = split_reply(text, 50)
    assert all(0 < len(part) <= 50 for part in parts)
    assert words("".join(parts)) == words(text)


def test_whitespace_only_text_that_does_not_fit_gives_no_parts() -> None:
    assert split_reply(" \n\t " * 100, 10) == []


def test_random_text_never_loses_or_oversizes_anything() -> None:
    alphabet = list("abc de.f!?\n") + ["\u2026", "\u3002", "\U0001f600", "\u200b", "\u061f", "\u200d", "\u0301", "  "]
    rng = random.Random(2024)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 600)))
        max_chars = rng.randrange(1, 80)
        parts = split_reply(text, max_chars)
        if len(text) <= max_chars:
            assert parts == [text]
            continue
        assert all(part and part == part.strip() and len(part) <= max_chars for part in parts)
        assert words("".join(parts)) == words(text)


# typing_delay_s


def test_typing_delay_is_proportional_to_length() -> None:
    assert typing_delay_s("x" * 50, chars_per_s=25.0, max_s=8.0, jitter=0.0) == pytest.approx(2.0)
    assert typing_delay_s("x" * 100, chars_per_s=25.0, max_s=8.0, jitter=0.0) == pytest.approx(4.0)
    assert typing_delay_s("\U0001f600" * 25, chars_per_s=25.0, max_s=8.0, jitter=0.0) == pytest.approx(1.0)


def test_typing_delay_is_capped() -> None:
    assert typing_delay_s("x" * 10_000, chars_per_s=25.0, max_s=8.0, jitter=0.0) == 8.0
    rng = random.Random(1)
    delays = [typing_delay_s("x" * 10_000, chars_per_s=25.0, max_s=8.0, jitter=0.3, rng=rng) for _ in range(200)]
    assert max(delays) <= 8.0


def test_typing_delay_jitter_stays_within_its_bounds_and_varies() -> None:
    rng = random.Random(42)
    delays = [typing_delay_s("x" * 100, chars_per_s=25.0, max_s=8.0, jitter=0.3, rng=rng) for _ in range(1000)]
    assert all(4.0 * 0.7 <= delay <= 4.0 * 1.3 for delay in delays)
    assert min(delays) < 3.2 and max(delays) > 4.8  # both sides are used
    # Even an absurd jitter never makes a delay negative or longer than the cap.
    delays = [typing_delay_s("x" * 100, chars_per_s=25.0, max_s=8.0, jitter=5.0, rng=rng) for _ in range(1000)]
    assert all(0.0 <= delay <= 8.0 for delay in delays)


def test_typing_delay_is_zero_when_pacing_is_off() -> None:
    assert typing_delay_s("x" * 500, chars_per_s=0.0, max_s=8.0, jitter=0.3) == 0.0
    assert typing_delay_s("x" * 500, chars_per_s=25.0, max_s=0.0, jitter=0.3) == 0.0
    assert typing_delay_s("", chars_per_s=25.0, max_s=8.0, jitter=0.3) == 0.0


# SendPacer


async def test_with_both_limits_off_it_never_waits() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock)
    for _ in range(1000):
        assert await pacer.wait_turn("ana") == 0.0
    assert clock.sleeps == []
    assert pacer.tracked_contacts == 0


async def test_messages_to_one_contact_keep_a_minimum_gap() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, gap=1.5)
    assert await clock.run(pacer.wait_turn("ana")) == [0.0]
    assert await clock.run(pacer.wait_turn("ana")) == [pytest.approx(1.5)]
    assert await clock.run(pacer.wait_turn("ben")) == [0.0]  # another contact is not held back
    await clock.advance(0.5)
    assert await clock.run(pacer.wait_turn("ana")) == [pytest.approx(1.0)]
    await clock.advance(10.0)
    assert await clock.run(pacer.wait_turn("ana")) == [0.0]


async def test_concurrent_messages_to_one_contact_keep_the_gap() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, gap=2.0, per_minute=100)
    sent: list[float] = []

    async def send() -> None:
        await pacer.wait_turn("ana")
        sent.append(clock())

    await clock.run(send(), send(), send())
    assert sent == [pytest.approx(1000.0), pytest.approx(1002.0), pytest.approx(1004.0)]


async def test_the_global_cap_holds_the_eleventh_message_until_the_window_frees() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, per_minute=10)
    for index in range(10):
        assert await clock.run(pacer.wait_turn(f"contact{index}")) == [0.0]
        await clock.advance(1.0)
    # The first message went at 1000; ten seconds later the window is full until 1060.
    assert await clock.run(pacer.wait_turn("late")) == [pytest.approx(50.0)]
    # The second message (1001) leaves the window a second later, making room for the next one.
    assert await clock.run(pacer.wait_turn("later")) == [pytest.approx(1.0)]


async def test_the_cap_counts_a_sliding_minute() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, per_minute=3)
    sent: list[float] = []
    for index in range(12):
        await clock.run(pacer.wait_turn(f"contact{index}"))
        sent.append(clock())
        await clock.advance(7.0)
    for first in range(len(sent)):
        in_window = [moment for moment in sent[first:] if moment - sent[first] < 60.0]
        assert len(in_window) <= 3


async def test_messages_held_by_the_cap_go_first_come_first_served() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, per_minute=2)
    await clock.run(pacer.wait_turn("early1"), pacer.wait_turn("early2"))
    order: list[str] = []

    async def send(chat_id: str) -> float:
        waited = await pacer.wait_turn(chat_id)
        order.append(chat_id)
        return waited

    names = [f"contact{index}" for index in range(7)]
    waits = await clock.run(*(send(name) for name in names))
    assert order == names
    assert waits == [pytest.approx(value) for value in (60, 60, 120, 120, 180, 180, 240)]


async def test_a_cancelled_waiter_takes_no_turn() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, per_minute=1)
    await clock.run(pacer.wait_turn("first"))
    waiting = asyncio.create_task(pacer.wait_turn("gone"))
    async with asyncio.timeout(5):
        await clock.sleeping.wait()
    assert clock.sleeps == [pytest.approx(60.0)]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await clock.run(pacer.wait_turn("next")) == [pytest.approx(60.0)]


async def test_quiet_contacts_are_forgotten() -> None:
    clock = VirtualClock()
    pacer = make_pacer(clock, gap=1.0)
    for index in range(5000):
        await clock.run(pacer.wait_turn(f"contact{index}"))
    assert pacer.tracked_contacts == 5000  # all within the same second
    await clock.advance(0.5)
    await clock.run(pacer.wait_turn("recent"))
    assert pacer.tracked_contacts == 5001
    await clock.advance(0.6)
    await clock.run(pacer.wait_turn("another"))
    assert pacer.tracked_contacts == 2  # "recent" (0.6 s ago) still counts; the 5000 do not
    assert await clock.run(pacer.wait_turn("recent")) == [pytest.approx(0.4)]


async def test_forty_contacts_within_a_minute_are_not_held_back_by_the_default_cap() -> None:
    clock = VirtualClock()
    gap = DEFAULTS["min_gap_per_contact_s"]
    pacer = make_pacer(clock, gap=gap, per_minute=DEFAULTS["max_messages_per_minute"])
    start = clock()

    async def answer(chat_id: str, parts: int) -> list[float]:
        return [await pacer.wait_turn(chat_id) for _ in range(parts)]

    # Worst case: forty contacts answered at the same moment, each reply split into two messages.
    waits = await clock.run(*(answer(f"contact{index}", 2) for index in range(40)))
    assert all(first == 0.0 and second == pytest.approx(gap) for first, second in waits)
    assert clock() - start == pytest.approx(gap)

    # And spread over the next minute, replies of up to three messages: each waits only for its own gap.
    await clock.advance(60.0)
    start = clock()
    rng = random.Random(3)

    async def answer_later(offset: float, chat_id: str, parts: int) -> list[float]:
        await clock.sleep(offset)
        return await answer(chat_id, parts)

    replies = [(rng.uniform(0.0, 55.0), f"spread{index}", rng.randint(1, 3)) for index in range(40)]
    waits = await clock.run(*(answer_later(*reply) for reply in replies))
    assert sum(len(reply_waits) for reply_waits in waits) > 80
    assert all(reply_waits[0] == 0.0 for reply_waits in waits)
    assert all(wait == pytest.approx(gap) for reply_waits in waits for wait in reply_waits[1:])
    assert clock() - start < 60.0


async def test_the_pacer_is_built_from_the_settings() -> None:
    settings = Settings.model_construct(min_gap_per_contact_s=0.0, max_messages_per_minute=0)
    pacer = SendPacer.from_settings(settings)
    assert await pacer.wait_turn("ana") == 0.0
