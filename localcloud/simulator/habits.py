"""How the community lives: the hours people do things, what they recycle and how much it weighs, how
fast bins fill and soil dries, what a household uses. Numbers are plausible for a Chinese residential
community, not measured; each table is per China hour (index 0 = 00:00–01:00)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from localcloud.simulator.clock import CHINA_OFFSET_MS, DAY_MS, HOUR_MS, china_hours

CATEGORIES = ("paper", "plastic", "metal", "bottle", "textile")
#: fen per kg the community pays (cardboard ~0.8 CNY/kg, beverage bottles and cans more, old clothes little)
PRICES_FEN = {"paper": 80, "plastic": 100, "metal": 200, "bottle": 150, "textile": 40}
#: what people bring most
CATEGORY_SHARE = {"paper": 35, "bottle": 25, "plastic": 20, "metal": 10, "textile": 10}
#: grams of one drop: (median, lowest, highest); paper and clothes come in kilos, bottles are light
DROP_G = {"paper": (2500, 300, 15000), "plastic": (800, 100, 5000), "metal": (900, 100, 8000),
          "bottle": (450, 50, 3000), "textile": (2500, 500, 12000)}
#: the community's per-drop limit stays at the hub's default; a heavier "drop" is a child on the scale
MAX_DROP_G = 30_000

#: recycling: before work and after dinner
RECYCLE_HOURS = (0, 0, 0, 0, 0, 1, 4, 10, 12, 6, 3, 2, 2, 2, 2, 2, 3, 5, 9, 12, 10, 5, 1, 0)
#: doors: out in the morning, back in the evening, a trickle all day
DOOR_HOURS = (1, 1, 0, 0, 0, 1, 4, 10, 8, 4, 3, 3, 4, 3, 3, 3, 4, 7, 10, 8, 6, 4, 3, 2)
#: service orders: office hours and early evening
ORDER_HOURS = (0, 0, 0, 0, 0, 0, 0, 1, 3, 5, 5, 4, 3, 4, 5, 5, 4, 4, 3, 2, 1, 0, 0, 0)
#: any hour alike (the things that happen whenever they happen)
ANY_HOUR = (1,) * 24
#: trash: percentage points a typical bin fills per hour (after meals most)
BIN_FILL_PER_H = (0.3, 0.2, 0.2, 0.2, 0.2, 0.5, 2.0, 4.0, 3.0, 1.5, 1.5, 2.5, 3.5, 2.0, 1.2, 1.2, 1.5, 2.5, 4.5, 5.0,
                  3.5, 2.0, 1.0, 0.5)
#: soil: moisture points lost per hour (the afternoon sun dries most)
SOIL_DRY_PER_H = (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 1.8, 1.8, 1.6, 1.3, 1.0, 0.8, 0.6,
                  0.5, 0.4, 0.4, 0.3, 0.3)
#: water: litres per household per hour (showers morning and evening, cooking); ~280 L a day, and nothing
#: between 01:00 and 05:00 — water running all those hours is what the hub calls a leak
WATER_L_PER_H = (2, 0, 0, 0, 0, 3, 20, 32, 24, 10, 8, 10, 15, 8, 5, 5, 8, 15, 28, 32, 24, 18, 10, 4)
#: electricity: Wh per household per hour; ~9 kWh a day, air conditioning in the evening
POWER_WH_PER_H = (200, 150, 150, 150, 150, 200, 400, 500, 300, 250, 250, 300, 350, 300, 250, 250, 300, 500, 800,
                  900, 800, 700, 500, 300)
#: a running toilet: litres per hour, day and night
LEAK_L_PER_H = 6
#: meter readings start from an epoch so every reading is a pure function of its time (2024-01-01 China)
METER_EPOCH_MS = 1_704_038_400_000


def drop_weight_g(rng: random.Random, category: str) -> int:
    median, low, high = DROP_G[category]
    return max(low, min(high, round(rng.lognormvariate(math.log(median), 0.6))))


def pick_category(rng: random.Random, favourites: Sequence[str] = ()) -> str:
    if favourites and rng.random() < 0.6:
        return rng.choice(list(favourites))
    return rng.choices(list(CATEGORY_SHARE), weights=list(CATEGORY_SHARE.values()))[0]


def pick_time(rng: random.Random, start_ms: int, end_ms: int, hourly: Sequence[float]) -> int | None:
    """A moment in [start, end) drawn with the density of ``hourly`` (per China clock hour); None if none fits.

    The draw is made in clock time — which hour of the day, which moment of that hour — and only then
    placed in the window, with exactly two random numbers: so a 24-hour window plans the same clock times
    whenever it starts, and the seed reproduces the day."""
    pieces: dict[int, list[tuple[int, int]]] = {}
    for hour, a, b in china_hours(start_ms, end_ms):
        pieces.setdefault(hour, []).append((a, b))
    hours = sorted(pieces)
    weights = [hourly[h] * sum(b - a for a, b in pieces[h]) for h in hours]
    pick_hour, pick_moment = rng.random(), rng.random()
    total = sum(weights)
    if total <= 0:
        return None
    mark, chosen = pick_hour * total, hours[-1]
    for hour, weight in zip(hours, weights, strict=True):
        if weight > 0 and mark < weight:
            chosen = hour
            break
        mark -= weight
    covered = sorted(pieces[chosen], key=lambda p: (p[0] + CHINA_OFFSET_MS) % HOUR_MS)  # in clock order
    offset = int(pick_moment * sum(b - a for a, b in covered))
    for a, b in covered:
        if offset < b - a:
            return a + offset
        offset -= b - a
    return covered[-1][1] - 1


def expected_count(start_ms: int, end_ms: int, hourly: Sequence[float], per_day: float) -> float:
    """How many of something that happens ``per_day`` times a day (shaped by ``hourly``) fall in the window."""
    total = sum(hourly)
    return per_day * integrate(hourly, start_ms, end_ms) / total if total else 0.0


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def integrate(hourly: Sequence[float], start_ms: int, end_ms: int) -> float:
    """Sum of a per-hour rate over [start, end) (end ≥ start), hour by China hour."""
    total = 0.0
    for hour, a, b in china_hours(start_ms, end_ms):
        total += hourly[hour] * (b - a) / HOUR_MS
    return total


def cumulative(hourly: Sequence[float], ts_ms: int) -> float:
    """Sum of a per-hour rate from the meter epoch up to ``ts_ms``: whole days at once, then hours."""
    elapsed = max(0, ts_ms - METER_EPOCH_MS)
    days, _ = divmod(elapsed, DAY_MS)
    day_start = METER_EPOCH_MS + days * DAY_MS
    return days * float(sum(hourly)) + integrate(hourly, day_start, ts_ms)


def household_factor(index: int, salt: int) -> float:
    """A household's steady appetite (0.5–1.6×), the same every day without any random state."""
    return 0.5 + ((index * 2_654_435_761 + salt * 40_503) % 1000) / 1000 * 1.1


def water_m3(index: int, ts_ms: int, leaky: bool = False) -> float:
    """The cumulative water meter reading of household ``index`` at ``ts_ms`` (m3, litre resolution)."""
    litres = 120_000 + index * 37 + household_factor(index, 1) * cumulative(WATER_L_PER_H, ts_ms)
    if leaky:
        litres += LEAK_L_PER_H * max(0, ts_ms - METER_EPOCH_MS) / HOUR_MS
    return math.floor(litres) / 1000


def power_kwh(index: int, ts_ms: int) -> float:
    """The cumulative electricity meter reading (kWh, Wh resolution)."""
    wh = 3_000_000 + index * 53 + household_factor(index, 2) * cumulative(POWER_WH_PER_H, ts_ms)
    return math.floor(wh) / 1000


#: the services partners offer: id → (name, price fen, partner index, share of orders, minutes of work)
SERVICES = {
    "cleaning": ("一小时保洁", 5000, 0, 40, 60),
    "water": ("桶装水配送", 1800, 1, 45, 15),
    "laundry": ("雨天帮收衣物", 500, 0, 15, 10),
}
PARTNERS = (("洁净家政", "acct_jiejing0001"), ("清泉送水", None))
ORDER_NOTES = {"cleaning": ("厨房重点打扫", "家里有猫", None), "water": ("两桶", "一桶，放门口", None),
               "laundry": ("阳台的被子", None)}
