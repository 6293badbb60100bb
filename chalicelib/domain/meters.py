"""Meters (水表 / 电表): cumulative readings become a household's usage per China hour and day.

A meter reports its cumulative reading; usage between two readings is their difference, and it is
counted in the China hour in which the later reading falls (a reading taken at 02:00:00 closes the
01:00–02:00 hour). Readings arrive at least once and in any order, so each meter keeps a window of its
recent readings (``MeterWindow``): a reading is placed between its neighbours in ts order, and usage
moves from the hour of the later neighbour to the hour of the new reading — the totals are the same
whichever order the readings came in.

A reading lower than the one before it (a rollover or a swapped meter) or above the one after it, and a
jump larger than a household can plausibly use in the time between (the community's
``meter_max_*_per_h``), is rejected and never counted. Storage is integers: litres and watt-hours
(``milli`` of m3 / kWh).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from chalicelib.domain.errors import BadInput
from chalicelib.domain.recycling import CHINA_UTC_OFFSET_MS, CommunitySettings, china_day
from chalicelib.domain.rejects import Rejected, RejectReason

HOUR_MS = 3_600_000
#: readings kept per meter: the device clock window accepts messages up to 24 h old, so 48 h of
#: readings always hold the neighbours of any reading the hub still accepts
WINDOW_MS = 48 * HOUR_MS
MAX_KEPT = 500  # a meter reporting every 6 minutes for 48 h
#: a jump is judged over at least this span, so two readings a second apart are not a "jump"
MIN_JUMP_SPAN_MS = 60_000
#: the hours (starting 01:00, 02:00, 03:00, 04:00) of 01:00–05:00 China time: water used in each of them
#: in one night is a leak (a tap left dripping, a running toilet)
LEAK_HOURS = (1, 2, 3, 4)
#: usage a resident or staff may ask for
MAX_DAYS = 90
DEFAULT_DAYS = 30

UNIT_BY_DEVICE_TYPE = {"water_meter": "m3", "electricity_meter": "kWh"}

HourKey = tuple[str, int]  # (China day YYYYMMDD, hour 0–23)


@dataclass(frozen=True)
class Point:
    ts_ms: int
    milli: int  # litres or watt-hours
    event_id: str


@dataclass(frozen=True)
class MeterWindow:
    points: tuple[Point, ...] = ()  # ascending ts
    version: int = 0
    #: readings before this ts were dropped from the window: one older cannot be placed any more
    kept_from_ms: int | None = None


@dataclass(frozen=True)
class Placement:
    window: MeterWindow
    changes: dict[HourKey, int]  # usage added per China hour (negative: moved to an earlier hour)
    duplicate: bool = False


@dataclass(frozen=True)
class DayUsage:
    day: str  # YYYYMMDD, China
    unit: str  # m3 | kWh
    milli: int


def to_milli(reading: float) -> int:
    """1234.567 m3 → 1,234,567 litres, exactly (through the decimal text, not binary float maths)."""
    return int((Decimal(repr(reading)) * 1000).to_integral_value(ROUND_HALF_EVEN))


def hour_of(ts_ms: int) -> HourKey:
    """The China hour an interval ending at ``ts_ms`` is counted in (its last millisecond's hour)."""
    at = ts_ms - 1
    return china_day(at), ((at + CHINA_UTC_OFFSET_MS) // HOUR_MS) % 24


def max_per_hour_milli(unit: str, settings: CommunitySettings) -> int:
    per_h = settings.meter_max_m3_per_h if unit == "m3" else settings.meter_max_kwh_per_h
    return per_h * 1000


def _check_jump(earlier: Point, later: Point, max_per_h_milli: int) -> None:
    span = max(later.ts_ms - earlier.ts_ms, MIN_JUMP_SPAN_MS)
    allowed = max_per_h_milli * span // HOUR_MS
    used = later.milli - earlier.milli
    if used > allowed:
        raise Rejected(RejectReason.METER_JUMP,
                       f"{used / 1000:g} used in {span // 60_000} min is above the plausible {allowed / 1000:g}")


def place(window: MeterWindow, event_id: str, ts_ms: int, milli: int, max_per_h_milli: int) -> Placement:
    """Put a reading into the meter's window: the usage it moves between hours, or a reject."""
    if any(p.event_id == event_id for p in window.points):
        return Placement(window, {}, duplicate=True)
    if window.kept_from_ms is not None and ts_ms < window.kept_from_ms:
        raise Rejected(RejectReason.METER_OUT_OF_WINDOW,
                       f"ts {ts_ms} is older than the readings kept for this meter (from {window.kept_from_ms})")
    new = Point(ts_ms, milli, event_id)
    points = list(window.points)
    at = bisect.bisect_right([p.ts_ms for p in points], ts_ms)
    before = points[at - 1] if at > 0 else None
    after = points[at] if at < len(points) else None
    if before is not None and milli < before.milli:
        raise Rejected(RejectReason.METER_WENT_BACKWARDS,
                       f"reading {milli / 1000:g} is below the earlier {before.milli / 1000:g} (rollover or swap?)")
    if after is not None and after.milli < milli:
        raise Rejected(RejectReason.METER_WENT_BACKWARDS,
                       f"reading {milli / 1000:g} is above the later {after.milli / 1000:g}")
    changes: Counter[HourKey] = Counter()
    if before is not None:
        _check_jump(before, new, max_per_h_milli)
        changes[hour_of(ts_ms)] += milli - before.milli
    if after is not None:
        _check_jump(new, after, max_per_h_milli)
        counted_before = after.milli - before.milli if before is not None else 0
        changes[hour_of(after.ts_ms)] += (after.milli - milli) - counted_before
    points.insert(at, new)
    return Placement(_pruned(replace(window, points=tuple(points), version=window.version + 1)),
                     {k: v for k, v in changes.items() if v})


def _pruned(window: MeterWindow) -> MeterWindow:
    points = window.points
    newest = points[-1].ts_ms
    kept = tuple(p for p in points if p.ts_ms >= newest - WINDOW_MS)[-MAX_KEPT:]
    if len(kept) == len(points):
        return window
    return replace(window, points=kept, kept_from_ms=kept[0].ts_ms)


def hourly_usage(window: MeterWindow) -> dict[HourKey, int]:
    used: Counter[HourKey] = Counter()
    for earlier, later in zip(window.points, window.points[1:], strict=False):
        used[hour_of(later.ts_ms)] += later.milli - earlier.milli
    return dict(used)


def leak_night(window: MeterWindow, changes: dict[HourKey, int]) -> str | None:
    """The China day (YYYYMMDD) of a night this reading touched on which water ran in every leak hour."""
    nights = sorted({day for day, hour in changes if hour in LEAK_HOURS})
    if not nights:
        return None
    used = hourly_usage(window)
    for night in nights:
        if all(used.get((night, hour), 0) > 0 for hour in LEAK_HOURS):
            return night
    return None


def parse_days(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise BadInput(f"days must be an integer 1–{MAX_DAYS}", code="invalid_days")
    return int(raw)


def first_day(now_ms: int, days: int) -> str:
    """The oldest China day of the last ``days`` days, today included."""
    return china_day(now_ms - (days - 1) * 24 * HOUR_MS)
