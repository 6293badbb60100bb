"""The community simulator's scenario: the same seed plans the same day; people recycle around breakfast
and after dinner; what they bring is a real category and a weight the bin accepts."""

from __future__ import annotations

import itertools
from collections import Counter

from localcloud.simulator import habits
from localcloud.simulator.clock import CHINA_OFFSET_MS, DAY_MS, HOUR_MS, MAX_AGE_MS, SimClock, china_hour
from localcloud.simulator.day_plan import plan_day
from localcloud.simulator.town import plan_town

# a fixed midnight in China (2026-03-02 00:00 +08:00), so the test does not depend on today's clock
MIDNIGHT_CN_MS = 1_772_380_800_000


def _day(households: int = 500, seed: int = 7, hours: int = 24):  # type: ignore[no-untyped-def]
    town = plan_town(households, seed, "t1")
    return town, plan_day(town, MIDNIGHT_CN_MS, MIDNIGHT_CN_MS + hours * HOUR_MS, seed)


def test_the_same_seed_plans_the_same_day_and_another_seed_another() -> None:
    _, first = _day(seed=7)
    _, again = _day(seed=7)
    _, other = _day(seed=8)
    assert first == again
    assert first.happenings != other.happenings


def test_weighins_peak_in_the_morning_and_the_evening() -> None:
    _, plan = _day()
    hours = Counter(china_hour(h.at_ms) for h in plan.of_kind("weighin") if not h.data.get("overweight"))
    morning = sum(hours[h] for h in (7, 8, 9))
    evening = sum(hours[h] for h in (18, 19, 20))
    small_hours = sum(hours[h] for h in range(0, 5))
    midday = sum(hours[h] for h in (13, 14, 15))
    assert sum(hours.values()) > 100
    assert small_hours == 0
    assert morning > 2 * midday and evening > 2 * midday


def test_weights_are_within_the_bins_limit_and_categories_are_the_bins_compartments() -> None:
    town, plan = _day()
    drops = [h for h in plan.of_kind("weighin") if not h.data.get("overweight")]
    assert {h.data["category"] for h in drops} <= set(habits.CATEGORIES)
    assert all(0 < h.data["weight_g"] <= habits.MAX_DROP_G for h in drops)
    paper = sorted(h.data["weight_g"] for h in drops if h.data["category"] == "paper")
    bottles = sorted(h.data["weight_g"] for h in drops if h.data["category"] == "bottle")
    assert paper[len(paper) // 2] > 1000 > bottles[len(bottles) // 2]  # cardboard in kilos, bottles light
    # the only heavier "drop" is the staged one: a child standing on the scale, which the hub must reject
    [child] = [h for h in plan.of_kind("weighin") if h.data.get("overweight")]
    assert child.data["weight_g"] > habits.MAX_DROP_G
    # every drop happens at the recycling bin of the household's building
    homes = {h.index: h for h in town.households}
    assert all(h.thing == town.bin_of(homes[h.household]).thing_name for h in drops)


def test_a_short_day_of_a_small_community_still_tells_every_story() -> None:
    _, plan = _day(households=20, hours=3)
    kinds = Counter(h.kind for h in plan.happenings)
    assert kinds["order"] >= 1 and kinds["withdrawal"] >= 1 and kinds["intrusion"] >= 1 and kinds["stranger"] == 1
    assert plan.door_bursts >= 1
    assert any(h.kind == "weighin" and h.household in plan.early_birds for h in plan.happenings)
    assert all(plan.start_ms <= h.at_ms < plan.end_ms for h in plan.happenings)


def test_a_day_that_ends_now_keeps_every_message_inside_the_hubs_clock_window() -> None:
    started = 1_772_400_000.0
    clock = SimClock.ending_now(24, 600, real_now=started)
    assert clock.run_s == 144
    assert clock.sim_start_ms > started * 1000 - MAX_AGE_MS  # the first message is less than a day old
    assert clock.sim_end_ms <= clock.real_at(clock.sim_end_ms) * 1000  # the last is not in the future


def test_meter_readings_only_grow_and_a_leak_runs_all_night() -> None:
    night = [MIDNIGHT_CN_MS + k * HOUR_MS for k in range(1, 6)]
    normal = [habits.water_m3(3, t) for t in night]
    leaking = [habits.water_m3(3, t, leaky=True) for t in night]
    assert normal == sorted(normal) and len(set(normal)) == 1  # nobody runs water 01:00–05:00
    assert all(b > a for a, b in itertools.pairwise(leaking))
    day = [habits.power_kwh(3, MIDNIGHT_CN_MS + k * HOUR_MS) for k in range(25)]
    assert day == sorted(day) and 3 < day[-1] - day[0] < 20  # a household's daily kWh


def test_a_24_hour_day_plans_the_same_clock_times_whenever_it_starts() -> None:
    """``--seed`` reproduces the day: run at breakfast or after dinner, the same things happen at the same
    China clock times (the day is laid out to end at the moment it is run)."""
    town = plan_town(200, 11, "t2")
    later = MIDNIGHT_CN_MS + 7 * HOUR_MS + 1_234_567

    def clock_view(start: int) -> Counter[tuple[object, ...]]:
        plan = plan_day(town, start, start + 24 * HOUR_MS, 11)
        return Counter((h.kind, h.thing, h.household, (h.at_ms + CHINA_OFFSET_MS) % DAY_MS, str(h.data))
                       for h in plan.happenings if h.kind not in ("withdrawal", "bind_phone"))

    assert clock_view(MIDNIGHT_CN_MS) == clock_view(later)
