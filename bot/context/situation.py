"""The operator's situation when a message is answered: their local time and whether they are likely away.

Working hours are written the way people write them: "Mon-Fri 09:00-18:00", or with several windows and days
"Mon-Fri 09:00-13:00,14:00-18:00; Sat 10:00-14:00". A window ends at most at 24:00; a shift past midnight is two
windows on two days. Outside every window the operator is likely away, so the bot should not promise a quick
answer from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {name[:3]: index for index, name in enumerate(DAY_NAMES)} | {name: i for i, name in enumerate(DAY_NAMES)}
_GROUP = re.compile(r"(?P<days>[A-Za-z][A-Za-z ,-]*?)\s+(?P<windows>\d.*)")
_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")

Window = tuple[int, int]  # minutes since midnight: start inclusive, end exclusive


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When the operator works: for each weekday (Monday = 0) the windows of their day, in local time."""

    text: str
    days: tuple[tuple[Window, ...], ...]  # seven entries, Monday first

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """Read "Mon-Fri 09:00-13:00,14:00-18:00; Sat 10:00-14:00"; ValueError saying what is wrong otherwise."""
        days: list[list[Window]] = [[] for _ in DAY_NAMES]
        groups = [group.strip() for group in text.split(";") if group.strip()]
        if not groups:
            raise ValueError('expected working hours such as "Mon-Fri 09:00-18:00", got nothing')
        for group in groups:
            match = _GROUP.fullmatch(group)
            if match is None:
                raise ValueError(f'expected days then times, such as "Mon-Fri 09:00-18:00", got {group!r}')
            windows = [_window(item.strip()) for item in match["windows"].split(",")]
            for day in _day_set(match["days"]):
                days[day].extend(windows)
        return cls(text=text.strip(), days=tuple(tuple(sorted(windows)) for windows in days))

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time `local` (already in the operator's time zone) is within working hours."""
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days[local.weekday()])


def _day(name: str) -> int:
    day = _DAYS.get(name.strip().lower())
    if day is None:
        raise ValueError(f"unknown day {name.strip()!r}: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")
    return day


def _day_set(text: str) -> set[int]:
    """ "Mon-Fri", "Sat,Sun", "Fri-Mon" (a range may wrap past Sunday)."""
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first_name, _, last_name = part.partition("-")
            first, last = _day(first_name), _day(last_name)
            days.update((first + step) % 7 for step in range((last - first) % 7 + 1))
        else:
            days.add(_day(part))
    return days


def _window(text: str) -> Window:
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(f'expected a time window such as "09:00-18:00", got {text!r}')
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    start, end = start_hour * 60 + start_minute, end_hour * 60 + end_minute
    if start_hour > 23 or start_minute > 59 or end_minute > 59 or end > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts; a shift past midnight is two windows on two days")
    return start, end


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Madrid"); ValueError naming it when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone {name!r}: expected an IANA name such as "Europe/Madrid"') from None


@dataclass(frozen=True, slots=True)
class Situation:
    local_time: datetime  # aware, in the operator's time zone
    operator_away: bool
    working_hours: str | None  # as configured, for the prompt


def situation_at(now: datetime, *, timezone: str, working_hours: WorkingHours | None) -> Situation:
    """The operator's situation at the aware instant `now`. Without working hours they are never counted away:
    the bot cannot guess when someone works, and a wrong "they are away" is worse than saying nothing."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("expected an aware datetime (with a time zone)")
    local = now.astimezone(zone(timezone))
    away = working_hours is not None and not working_hours.contains(local)
    return Situation(local_time=local, operator_away=away, working_hours=working_hours.text if working_hours else None)
