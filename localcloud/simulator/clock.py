"""Simulated time on the wall clock, kept inside the hub's device-clock window.

The hub rejects a device message whose ``ts`` is more than 24 h before it received it, or more than
5 min after (``Settings.max_event_age_ms`` / ``max_clock_ahead_ms``). A simulated day at ``speed``× is
therefore laid out so that it *ends now*: it starts ``hours`` before the moment the schedule finishes,
so every message carries a time already past and never older than a day. After the day (partners still
finishing orders, a bin emptied late) simulated time keeps running at the same pace for the agenda, but
device timestamps are clamped to the wall clock (``plausible``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
CHINA_OFFSET_MS = 8 * HOUR_MS  # China keeps one time zone and no daylight saving
#: the hub's window (chalicelib/settings.py), with a safety margin on each side
MAX_AGE_MS = DAY_MS - 60_000
MAX_HOURS = 24.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def china_hour(ms: int) -> int:
    return ((ms + CHINA_OFFSET_MS) // HOUR_MS) % 24


def china_hours(start_ms: int, end_ms: int) -> Iterator[tuple[int, int, int]]:
    """[start, end) cut at China clock hours: (hour of the day, from, to) for each piece, in order."""
    at = start_ms
    while at < end_ms:
        piece_end = min(end_ms, at + HOUR_MS - (at + CHINA_OFFSET_MS) % HOUR_MS)
        yield china_hour(at), at, piece_end
        at = piece_end


def china_day(ms: int) -> str:
    """YYYYMMDD in China, as the hub files a day's weigh-ins."""
    return time.strftime("%Y%m%d", time.gmtime((ms + CHINA_OFFSET_MS) / 1000))


def china_clock(ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime((ms + CHINA_OFFSET_MS) / 1000))


@dataclass(frozen=True)
class SimClock:
    """``sim_ms(t) = sim_start_ms + (t − real_start) × speed``, for wall time ``t`` in seconds."""

    real_start: float
    sim_start_ms: int
    speed: float
    span_ms: int

    @classmethod
    def ending_now(cls, hours: float, speed: float, real_now: float | None = None) -> SimClock:
        """A day of ``hours`` that ends (a little before) the wall-clock moment its schedule finishes."""
        if not 0 < hours <= MAX_HOURS:
            raise ValueError(f"hours must be within (0, {MAX_HOURS:g}]: the hub accepts messages up to a day old")
        if speed < 1:
            raise ValueError("speed must be at least 1 (simulated time cannot run ahead of the wall clock)")
        real = time.time() if real_now is None else real_now
        span_ms = int(hours * HOUR_MS)
        run_ms = span_ms / speed
        margin_ms = min(30_000.0, run_ms / 2)
        return cls(real_start=real, sim_start_ms=int(real * 1000 + run_ms - margin_ms) - span_ms, speed=speed,
                   span_ms=span_ms)

    @property
    def sim_end_ms(self) -> int:
        return self.sim_start_ms + self.span_ms

    @property
    def run_s(self) -> float:
        return self.span_ms / 1000 / self.speed

    def sim_ms(self, real: float | None = None) -> int:
        t = time.time() if real is None else real
        return self.sim_start_ms + int((t - self.real_start) * 1000 * self.speed)

    def real_at(self, sim_ms: int) -> float:
        return self.real_start + (sim_ms - self.sim_start_ms) / 1000 / self.speed

    def progress(self, real: float | None = None) -> float:
        return min(1.0, max(0.0, (self.sim_ms(real) - self.sim_start_ms) / self.span_ms))


def plausible(ts_ms: int, real_now_ms: int | None = None) -> int:
    """``ts_ms`` clamped into what the hub accepts right now: never ahead of the wall clock, never a day old."""
    now = now_ms() if real_now_ms is None else real_now_ms
    return max(now - MAX_AGE_MS, min(ts_ms, now - 1))
