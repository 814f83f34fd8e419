"""The operator's local time comes from their time zone, and outside their working hours they are likely away."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.context.situation import WorkingHours, situation_at

SPLIT = WorkingHours.parse("Mon-Fri 09:00-13:00,14:00-18:00; Sat 10:00-14:00")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute)  # 2025-03-03 is a Monday


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (local(3, 9), True),  # opening minute
        (local(3, 12, 59), True),
        (local(3, 13), False),  # lunch
        (local(3, 13, 59), False),
        (local(7, 17, 59), True),  # Friday
        (local(7, 18), False),  # closing minute
        (local(8, 10), True),  # Saturday morning
        (local(8, 15), False),
        (local(9, 11), False),  # Sunday
        (local(4, 8, 59), False),
    ],
)
def test_working_hours_contain_their_windows_only(moment: datetime, inside: bool) -> None:
    assert SPLIT.contains(moment) is inside


def test_day_lists_ranges_that_wrap_and_full_names() -> None:
    hours = WorkingHours.parse("fri-mon 22:00-24:00; Wednesday 08:00-09:00")
    assert hours.contains(local(9, 23, 59)) and hours.contains(local(3, 22))  # Sunday, Monday
    assert not hours.contains(local(4, 22))  # Tuesday
    assert hours.contains(local(5, 8, 30))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "got nothing"),
        ("Mon-Fri", "expected days then times"),
        ("Mon-Fri 9-18", "expected a time window"),
        ("Mon-Fri 18:00-09:00", "ends before it starts"),
        ("Mon-Fri 09:00-25:00", "not a time of day"),
        ("Mon-Fri 09:60-18:00", "not a time of day"),
        ("Mon-Fry 09:00-18:00", "unknown day 'Fry'"),
    ],
)
def test_bad_working_hours_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(text)


def test_local_time_is_in_the_operators_time_zone_and_away_outside_hours() -> None:
    hours = WorkingHours.parse("Mon-Fri 09:00-18:00")
    # 17:30 UTC on a Friday in winter is 18:30 in Madrid: after closing there, before closing in London.
    now = datetime(2025, 3, 7, 17, 30, tzinfo=UTC)
    madrid = situation_at(now, timezone="Europe/Madrid", working_hours=hours)
    assert (madrid.local_time.hour, madrid.local_time.minute) == (18, 30)
    assert madrid.local_time.utcoffset() is not None and madrid.local_time == now
    assert madrid.operator_away and madrid.working_hours == "Mon-Fri 09:00-18:00"
    london = situation_at(now, timezone="Europe/London", working_hours=hours)
    assert london.local_time.hour == 17 and not london.operator_away


def test_summer_time_moves_the_local_hour() -> None:
    hours = WorkingHours.parse("Mon-Fri 09:00-18:00")
    # 07:30 UTC is 08:30 in Madrid in winter (closed) and 09:30 in summer (open).
    assert situation_at(
        datetime(2025, 1, 10, 7, 30, tzinfo=UTC), timezone="Europe/Madrid", working_hours=hours
    ).operator_away
    summer = situation_at(datetime(2025, 7, 11, 7, 30, tzinfo=UTC), timezone="Europe/Madrid", working_hours=hours)
    assert summer.local_time.hour == 9 and not summer.operator_away


def test_without_working_hours_the_operator_is_never_counted_away() -> None:
    night = situation_at(datetime(2025, 3, 9, 3, 0, tzinfo=UTC), timezone="UTC", working_hours=None)
    assert not night.operator_away and night.working_hours is None


def test_a_naive_time_or_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        situation_at(datetime(2025, 3, 7, 12), timezone="UTC", working_hours=None)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        situation_at(datetime(2025, 3, 7, 12, tzinfo=UTC), timezone="Mars/Olympus", working_hours=None)
