"""Irrigation (绿化灌溉): soil readings decide when a zone is watered.

A zone is watered when its soil is drier than its threshold (the zone's own, else the community's
``irrigation_moisture_pct``), unless it is a skip day or the hottest hours of the day (China time). After
a run the zone rests — hysteresis, so one dry patch does not start the valve every few minutes — until a
reading shows the soil above threshold + ``irrigation_hysteresis_pct``, or ``irrigation_min_interval_s``
passed (the valve may have failed; try again). Readings older than the newest one seen decide nothing
(delivery is unordered).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from chalicelib.domain.errors import BadInput
from chalicelib.domain.recycling import CHINA_UTC_OFFSET_MS, CommunitySettings, china_day

HOUR_MS = 3_600_000
MAX_SKIP_DAYS = 60
ZONE_NAME = re.compile(r"[A-Za-z0-9 _:.-]{1,60}")  # use fullmatch


class Verdict(StrEnum):
    WATER = "water"
    WET_ENOUGH = "wet_enough"
    HOT_HOURS = "hot_hours"
    SKIP_DAY = "skip_day"
    RESTING = "resting"  # watered lately and the soil has not come back above threshold + hysteresis
    STALE = "stale"  # older than a reading already seen


@dataclass(frozen=True)
class WaterCommand:
    command_id: str
    zone: str
    thing_name: str
    duration_s: int
    ts_ms: int
    moisture_pct: float
    source: str  # "{thing}/{event_id}" of the reading that asked for it


@dataclass(frozen=True)
class Zone:
    community_id: str
    zone: str
    moisture_pct: int | None = None  # the zone's own threshold; None: the community's
    skip_days: tuple[str, ...] = ()  # YYYY-MM-DD, China
    resting: bool = False
    last_reading_ts_ms: int | None = None
    last_moisture_pct: float | None = None
    last_command: WaterCommand | None = None
    version: int = 0


@dataclass(frozen=True)
class Rules:
    threshold_pct: int
    hysteresis_pct: int
    quiet_start_h: int
    quiet_end_h: int
    water_s: int
    min_interval_ms: int

    @classmethod
    def for_zone(cls, zone: Zone, settings: CommunitySettings) -> Rules:
        threshold = zone.moisture_pct if zone.moisture_pct is not None else settings.irrigation_moisture_pct
        return cls(threshold_pct=threshold, hysteresis_pct=settings.irrigation_hysteresis_pct,
                   quiet_start_h=settings.irrigation_quiet_start_h, quiet_end_h=settings.irrigation_quiet_end_h,
                   water_s=settings.irrigation_water_s, min_interval_ms=settings.irrigation_min_interval_s * 1000)

    def quiet_at(self, ts_ms: int) -> bool:
        """In the hottest hours (China time); a window may wrap midnight, an empty one never applies."""
        hour = ((ts_ms + CHINA_UTC_OFFSET_MS) // HOUR_MS) % 24
        start, end = self.quiet_start_h % 24, self.quiet_end_h % 24
        if start == end:
            return False
        return start <= hour < end if start < end else hour >= start or hour < end


def iso_day(ts_ms: int) -> str:
    day = china_day(ts_ms)
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def decide(zone: Zone, rules: Rules, moisture_pct: float, ts_ms: int) -> tuple[Verdict, Zone]:
    """What a soil reading means for the zone, and the zone after it (without the command itself)."""
    if zone.last_reading_ts_ms is not None and ts_ms <= zone.last_reading_ts_ms:
        return Verdict.STALE, zone
    seen = replace(zone, last_reading_ts_ms=ts_ms, last_moisture_pct=moisture_pct)
    if moisture_pct >= rules.threshold_pct + rules.hysteresis_pct:
        return Verdict.WET_ENOUGH, replace(seen, resting=False)
    if moisture_pct >= rules.threshold_pct:
        return Verdict.WET_ENOUGH, seen
    if iso_day(ts_ms) in zone.skip_days:
        return Verdict.SKIP_DAY, seen
    if rules.quiet_at(ts_ms):
        return Verdict.HOT_HOURS, seen
    last = zone.last_command
    if zone.resting and last is not None and ts_ms - last.ts_ms < rules.min_interval_ms:
        return Verdict.RESTING, seen
    return Verdict.WATER, replace(seen, resting=True)


def parse_skip_days(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_SKIP_DAYS:
        raise BadInput(f"skip_days is a list of at most {MAX_SKIP_DAYS} dates", code="invalid_zone")
    days = []
    for value in raw:
        try:
            parsed = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise BadInput(f"skip day {value!r} is not YYYY-MM-DD", code="invalid_zone")
        days.append(parsed.isoformat())
    return tuple(sorted(set(days)))


def check_threshold(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 100:
        raise BadInput("moisture_pct is an integer 0–100", code="invalid_zone")
    return raw


def check_zone_name(raw: str) -> str:
    if not ZONE_NAME.fullmatch(raw):
        raise BadInput("a zone name is 1–60 letters, digits, spaces or _:.-", code="invalid_zone")
    return raw


def upcoming(days: Iterable[str], today: str) -> tuple[str, ...]:
    """Skip days from today on (past ones are of no use any more)."""
    return tuple(d for d in days if d >= today)
