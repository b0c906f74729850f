"""Schedule expressions as EventBridge and EventBridge Scheduler read them, and the clock schedules run on.

- `rate(value unit)`: a positive whole number with `minute`/`hour`/`day` (singular for 1, plural otherwise, as
  AWS insists). A rule's first firing is one period after it is created, then every period.
- `cron(minutes hours day-of-month month day-of-week year)`: AWS's six-field cron: `*`, `?`, lists, ranges,
  steps, month and weekday names, weekdays 1-7 = SUN-SAT, `L` (last day of month, or `5L` last Thursday), `W`
  (nearest weekday), `#` (`6#3` third Friday). One of day-of-month and day-of-week must be `?`. Times are UTC,
  or the schedule's `ScheduleExpressionTimezone` (EventBridge Scheduler).
- `at(yyyy-mm-ddThh:mm:ss)`: one time (EventBridge Scheduler only).

A test cannot wait a minute, so schedules run on a `Clock` that can run faster than the wall clock:
`EMBEDDED_AWS_TIME_SCALE=60` (or `events.engine().clock.set_scale(60)`) makes `rate(1 minute)` fire every
second. At scale 1 (the default) schedules fire on the wall clock.
"""

from __future__ import annotations

import calendar
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

#: How much faster than the wall clock schedules run (documented; tests set it to fire `rate(1 minute)` fast).
TIME_SCALE_ENV = "EMBEDDED_AWS_TIME_SCALE"


class ScheduleExpressionError(ValueError):
    """A schedule expression AWS would refuse."""


class Clock:
    """UTC time that may run `scale` times faster than the wall clock, continuously from now."""

    def __init__(self, scale: float | None = None) -> None:
        self._lock = threading.Lock()
        self._anchor_wall = datetime.now(UTC)
        self._anchor_mono = time.monotonic()
        self.scale = scale if scale is not None else float(os.environ.get(TIME_SCALE_ENV, "1") or "1")
        if self.scale <= 0:
            raise ValueError(f"{TIME_SCALE_ENV} must be a positive number, not {self.scale}.")

    def now(self) -> datetime:
        """The current (possibly accelerated) time."""
        with self._lock:
            elapsed = (time.monotonic() - self._anchor_mono) * self.scale
            return self._anchor_wall + timedelta(seconds=elapsed)

    def set_scale(self, scale: float) -> None:
        """Run `scale` times faster than the wall clock from now on (time never jumps backwards)."""
        if scale <= 0:
            raise ValueError("The time scale must be positive.")
        current = self.now()
        with self._lock:
            self._anchor_wall = current
            self._anchor_mono = time.monotonic()
            self.scale = scale

    def real_seconds(self, seconds: float) -> float:
        """How long `seconds` of this clock's time last on the wall clock."""
        return seconds / self.scale


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


@dataclass(frozen=True)
class Rate:
    """`rate(value unit)`."""

    seconds: int

    def first_after(self, created: datetime) -> datetime:
        return created + timedelta(seconds=self.seconds)

    def next_after(self, previous: datetime) -> datetime:
        return previous + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class At:
    """`at(yyyy-mm-ddThh:mm:ss)`: once."""

    when: datetime

    def first_after(self, created: datetime) -> datetime | None:
        return self.when

    def next_after(self, previous: datetime) -> datetime | None:
        return None


def _parse_int(text: str, names: dict[str, int], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleExpressionError(f"'{text}' is not a valid value for {field}.")
    return int(text)


def _parse_field(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> set[int]:
    """A cron field of `*`, values, ranges and steps → the set of values it allows."""
    names = names or {}
    values: set[int] = set()
    for item in text.split(","):
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"'{step_text}' is not a valid step for {field}.")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _parse_int(first, names, field), _parse_int(last, names, field)
        else:
            start = _parse_int(part, names, field)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"'{part}' is out of range for {field} ({low}-{high}).")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a wrapping range such as FRI-MON
            values.update(
                v for i, v in enumerate([*range(start, high + 1), *range(low, end + 1)]) if i % step == 0
            )
    return values


@dataclass(frozen=True)
class Cron:
    """`cron(minutes hours day-of-month month day-of-week year)` evaluated in `zone`."""

    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str
    months: frozenset[int]
    day_of_week: str
    years: frozenset[int]
    zone: str = "UTC"

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        last = calendar.monthrange(day.year, day.month)[1]
        if self.day_of_month != "?":
            return _dom_matches(self.day_of_month, day, last)
        return _dow_matches(self.day_of_week, day, last)

    def first_after(self, created: datetime) -> datetime | None:
        return self.next_after(created)

    def next_after(self, previous: datetime) -> datetime | None:
        zone = ZoneInfo(self.zone)
        local = previous.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = local.date()
        for _ in range(366 * 8):  # a matching day comes within a few years, or never
            if day.year > max(self.years):
                return None
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if candidate >= local:
                            return candidate.astimezone(UTC)
            day += timedelta(days=1)
            local = datetime(day.year, day.month, day.day, tzinfo=zone)
        return None


def _dom_matches(spec: str, day: date, last: int) -> bool:
    if spec == "*":
        return True
    for part in spec.split(","):
        if part == "L":
            if day.day == last:
                return True
        elif part.endswith("W"):
            target = last if part[:-1] == "L" else min(int(part[:-1]), last)
            if day.day == _nearest_weekday(day.replace(day=target), last).day:
                return True
        elif day.day in _parse_field(part, 1, 31, "day-of-month"):
            return True
    return False


def _nearest_weekday(day: date, last: int) -> date:
    weekday = day.weekday()  # Monday = 0
    if weekday == 5:  # Saturday: the Friday before, unless that leaves the month
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if weekday == 6:
        return day + timedelta(days=1) if day.day < last else day - timedelta(days=2)
    return day


def _aws_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # SUN = 1 ... SAT = 7


def _dow_matches(spec: str, day: date, last: int) -> bool:
    if spec == "*":
        return True
    weekday = _aws_weekday(day)
    for part in spec.split(","):
        if "#" in part:
            name, nth = part.split("#", 1)
            if weekday == _parse_int(name, _WEEKDAYS, "day-of-week") and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif part.endswith("L") and part != "L":
            if weekday == _parse_int(part[:-1], _WEEKDAYS, "day-of-week") and day.day + 7 > last:
                return True
        elif part == "L":
            if weekday == 7:
                return True
        elif weekday in _parse_field(part, 1, 7, "day-of-week", _WEEKDAYS):
            return True
    return False


def _check_day_spec(spec: str, field: str, low: int, high: int, names: dict[str, int]) -> None:
    if spec in ("*", "?"):
        return
    for part in spec.split(","):
        core = part
        if field == "day-of-month":
            if core in ("L", "LW"):
                continue
            core = core.removesuffix("W")
        else:
            if core == "L":
                continue
            if "#" in core:
                core, nth = core.split("#", 1)
                if nth not in {"1", "2", "3", "4", "5"}:
                    raise ScheduleExpressionError(f"'{part}' is not a valid {field}.")
            core = core.removesuffix("L")
        _parse_field(core, low, high, field, names)


Schedule = Rate | Cron | At


def parse(expression: str, *, timezone: str | None = None, allow_at: bool = False) -> Schedule:
    """Parse a schedule expression; raises `ScheduleExpressionError` for one AWS would refuse."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value <= 0 or (value == 1) == unit.endswith("s"):
            raise ScheduleExpressionError(f"{expression}: use a singular unit for 1 and plural otherwise.")
        return Rate(value * _UNIT_SECONDS[unit.rstrip("s")])
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"{expression}: cron takes six fields.")
        minutes, hours, dom, months, dow, years = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(
                f"{expression}: one of day-of-month and day-of-week must be '?', and only one."
            )
        _check_day_spec(dom, "day-of-month", 1, 31, {})
        _check_day_spec(dow, "day-of-week", 1, 7, _WEEKDAYS)
        zone = timezone or "UTC"
        try:
            ZoneInfo(zone)
        except (KeyError, ValueError) as exc:
            raise ScheduleExpressionError(f"Invalid timezone {zone}.") from exc
        return Cron(
            frozenset(_parse_field(minutes, 0, 59, "minutes")),
            frozenset(_parse_field(hours, 0, 23, "hours")),
            dom,
            frozenset(_parse_field(months, 1, 12, "month", _MONTHS)),
            dow,
            frozenset(_parse_field(years, 1970, 2199, "year")),
            zone,
        )
    if allow_at and expression.startswith("at(") and expression.endswith(")"):
        try:
            naive = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S")
        except ValueError as exc:
            raise ScheduleExpressionError(f"{expression}: use at(yyyy-mm-ddThh:mm:ss).") from exc
        return At(naive.replace(tzinfo=ZoneInfo(timezone or "UTC")).astimezone(UTC))
    raise ScheduleExpressionError(f"{expression} is not a rate(...) or cron(...) expression.")
