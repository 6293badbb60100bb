"""Devices that carry state between messages: trash bins fill up and get emptied, soil dries and gets
watered — both on the day's simulated time (``last_ms``) — and device clocks that only move forward, as
a real device's does (a demo's next day replays hours the hub has already seen from the device)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from localcloud.simulator import habits

FILL_ALERT_PCT = 90  # the community's fill_alert_pct (default)
EMPTIED_BELOW_PCT = 70  # the hub closes a bin's task below the threshold − 20 points
MOISTURE_THRESHOLD_PCT = 27  # irrigation_moisture_pct (default)


@dataclass
class TrashBin:
    """How full a bin is, and whether the hub should have a cleaning task open for it."""

    thing: str
    fill: float
    appetite: float  # how busy the spot is (× the typical rate)
    last_ms: int
    task_open: bool = False
    emptying: bool = False  # a cleaner is on the way
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, ts_ms: int) -> tuple[int, str | None]:
        """The fill to report at ``ts_ms``, and "opened"/"closed" if the hub should open/close a task."""
        with self.lock:
            if ts_ms > self.last_ms:
                self.fill = min(100.0, self.fill + habits.integrate(habits.BIN_FILL_PER_H, self.last_ms, ts_ms)
                                * self.appetite)
                self.last_ms = ts_ms
            pct = round(self.fill)
            return pct, self._judge(pct)

    def empty(self, ts_ms: int, rng: random.Random) -> tuple[int, str | None]:
        with self.lock:
            self.fill = float(rng.randint(2, 8))
            self.last_ms = max(self.last_ms, ts_ms)
            self.emptying = False
            pct = round(self.fill)
            return pct, self._judge(pct)

    def _judge(self, pct: int) -> str | None:
        if not self.task_open and pct >= FILL_ALERT_PCT:
            self.task_open = True
            return "opened"
        if self.task_open and pct < EMPTIED_BELOW_PCT:
            self.task_open = False
            return "closed"
        return None


@dataclass
class SoilZone:
    thing: str
    moisture: float
    last_ms: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, ts_ms: int) -> float:
        with self.lock:
            if ts_ms > self.last_ms:
                self.moisture = max(8.0, self.moisture - habits.integrate(habits.SOIL_DRY_PER_H, self.last_ms, ts_ms))
                self.last_ms = ts_ms
            return round(self.moisture, 1)

    def watered(self, duration_s: int) -> None:
        """A water command ran: ten minutes bring the soil up by about twenty points."""
        with self.lock:
            self.moisture = min(60.0, self.moisture + 20 * max(60, duration_s) / 600)


@dataclass
class DeviceClock:
    """A device's clock never runs backwards: each message is at least a second after the last."""

    last_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stamp(self, ts_ms: int) -> int:
        with self.lock:
            self.last_ms = max(ts_ms, self.last_ms + 1000)
            return self.last_ms


def new_bins(things: list[str], start_ms: int, rng: random.Random) -> dict[str, TrashBin]:
    return {t: TrashBin(t, float(rng.randint(10, 60)), rng.uniform(0.6, 1.6), start_ms) for t in things}


def new_zones(things: list[str], start_ms: int, rng: random.Random) -> dict[str, SoilZone]:
    zones = {t: SoilZone(t, float(rng.randint(30, 42)), start_ms) for t in things}
    if things:  # one lawn is already thirsty: the hub waters it when the hour allows
        zones[things[0]].moisture = MOISTURE_THRESHOLD_PCT + 1.5
    return zones
