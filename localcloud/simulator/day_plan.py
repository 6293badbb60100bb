"""What happens in one simulated day — a pure function of the town, the window and the seed.

The plan holds device messages (their values that depend on what happened — a bin's fill, a zone's
moisture — are worked out when they are sent) and residents' actions. Every day tells each story at
least once, so even a short run shows them: a weigh-in credited to a bound phone, a late phone binding
that claims held credit, a paid order, a withdrawal, a door's refusal burst, an intrusion at an armed
home, an overweight drop and a device nobody registered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from localcloud.simulator import habits
from localcloud.simulator.clock import CHINA_OFFSET_MS, DAY_MS, HOUR_MS, MINUTE_MS
from localcloud.simulator.town import Household, TownPlan

#: the hub on one machine takes in ~12 device messages a second, so the day is frugal: meters upload their
#: reading once a day (as NB-IoT meters do), bins and soil sensors every 3 h, heartbeats every 6 h
METER_EVERY_H = 24
BIN_EVERY_H = 3
HEARTBEAT_EVERY_H = 6
DOOR_TRIPS_PER_DAY = 0.3  # logged face/card/QR entries per household (the rest hold the door for others)
ORDERS_PER_DAY = 0.02  # per household
WITHDRAW_SHARE = 0.15  # of today's recyclers with the app
LATE_BINDER_SHARE = 0.08


@dataclass(frozen=True)
class Happening:
    at_ms: int
    kind: str  # weighin meter fill soil access heartbeat intrusion homecoming order withdrawal bind_phone stranger
    thing: str = ""
    household: int = -1
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DayPlan:
    start_ms: int
    end_ms: int
    happenings: tuple[Happening, ...]
    early_birds: frozenset[int]  # app users who open the app (log in, bind the phone) before the day
    late_binders: frozenset[int]  # log in before, bind their phone during the day
    leaks: int  # households whose meter shows water all night (a leak alarm each)
    door_bursts: int  # doors where someone tries five times in a minute

    def of_kind(self, kind: str) -> list[Happening]:
        return [h for h in self.happenings if h.kind == kind]


def _phased(start_ms: int, end_ms: int, every_h: float, phase: float) -> list[int]:
    """Times ``every_h`` apart at a device's own phase (0–1 of the interval) inside [start, end)."""
    step = int(every_h * HOUR_MS)
    first = start_ms - start_ms % step + int(phase * step)
    return [t for t in range(first, end_ms, step) if t >= start_ms]


def _anytime(rng: random.Random, start_ms: int, end_ms: int) -> int:
    return habits.pick_time(rng, start_ms, end_ms, habits.ANY_HOUR) or start_ms


def _phase(seed: int, thing: str) -> float:
    return random.Random(f"{seed}:{thing}").random()


def plan_day(town: TownPlan, start_ms: int, end_ms: int, seed: int, day: int = 0) -> DayPlan:
    rng = random.Random(f"linli-day:{seed}:{day}")
    out: list[Happening] = []
    app_recyclers = _recycling(town, rng, start_ms, end_ms, out)
    late = _late_binders(rng, app_recyclers, end_ms, out) if day == 0 else {}
    _withdrawals(rng, app_recyclers, set(late), end_ms, out)
    _devices(town, seed, start_ms, end_ms, out)
    leaks = _leaks(town, start_ms, end_ms, out)
    bursts = _doors(town, rng, start_ms, end_ms, out)
    _security(town, rng, start_ms, end_ms, out)
    orderers = _orders(town, rng, start_ms, end_ms, out)
    out.append(Happening(_anytime(rng, start_ms, end_ms), "weighin", town.recycling_bins[0].thing_name,
                         rng.randrange(len(town.households)), {"category": "paper", "weight_g": 38_000,
                                                               "overweight": True}))  # a child on the scale
    out.append(Happening(_anytime(rng, start_ms, end_ms), "stranger", f"{town.tag}-rb-new"))
    early = {h for h in app_recyclers if h not in late} | orderers
    out.sort(key=lambda h: (h.at_ms, h.kind, h.thing, h.household))
    return DayPlan(start_ms, end_ms, tuple(out), frozenset(early), frozenset(late), leaks, bursts)


def _recycling(town: TownPlan, rng: random.Random, start_ms: int, end_ms: int, out: list[Happening]) -> dict[int, int]:
    """Weigh-ins; returns the app users who recycled and when they left the bin."""
    share = habits.expected_count(start_ms, end_ms, habits.RECYCLE_HOURS, 1.0)
    app_recyclers: dict[int, int] = {}
    for home in town.households:
        if rng.random() >= home.recycles_per_day * share:  # at most one trip a day: well under the daily cap
            continue
        at = habits.pick_time(rng, start_ms, end_ms, habits.RECYCLE_HOURS)
        if at is not None:
            left = _trip(town, rng, home, at, out)
            if home.app_user:
                app_recyclers[home.index] = left
    if not app_recyclers:  # the story of a credited weigh-in is told every day
        home = next((h for h in town.households if h.app_user), town.households[0])
        at = start_ms + (end_ms - start_ms) // 10
        app_recyclers[home.index] = _trip(town, rng, home, at, out)
    return app_recyclers


def _trip(town: TownPlan, rng: random.Random, home: Household, at: int, out: list[Happening]) -> int:
    """One trip to the recycling bin: one drop, sometimes two of different categories."""
    first = habits.pick_category(rng, home.favourites)
    categories = [first]
    if rng.random() < 0.3:
        categories.append(rng.choice([c for c in habits.CATEGORIES if c != first]))
    thing = town.bin_of(home).thing_name
    for category in categories:
        out.append(Happening(at, "weighin", thing, home.index,
                             {"category": category, "weight_g": habits.drop_weight_g(rng, category)}))
        at += rng.randrange(20_000, 120_000)
    return at


def _late_binders(rng: random.Random, app_recyclers: dict[int, int], end_ms: int, out: list[Happening]
                  ) -> dict[int, int]:
    """Some recyclers bind their phone only later that day: their credit waits for them (held)."""
    chosen = [h for h in sorted(app_recyclers) if rng.random() < LATE_BINDER_SHARE]
    if not chosen and len(app_recyclers) > 1:
        chosen = [sorted(app_recyclers)[-1]]
    late = {}
    for h in chosen:
        at = min(end_ms - MINUTE_MS, app_recyclers[h] + int((20 + 160 * rng.random()) * MINUTE_MS))
        late[h] = max(at, app_recyclers[h] + MINUTE_MS)
        out.append(Happening(late[h], "bind_phone", household=h))
    return late


def _withdrawals(rng: random.Random, app_recyclers: dict[int, int], late: set[int], end_ms: int,
                 out: list[Happening]) -> None:
    bound = [h for h in sorted(app_recyclers) if h not in late]
    chosen = [h for h in bound if rng.random() < WITHDRAW_SHARE] or bound[:1]
    for n, h in enumerate(chosen):  # half an hour to eight hours after the trip, on the sofa
        later = app_recyclers[h] + int((0.5 + 7.5 * rng.random()) * HOUR_MS)
        at = max(app_recyclers[h] + MINUTE_MS, min(later, end_ms - MINUTE_MS))
        out.append(Happening(at, "withdrawal", household=h, data={"confirms": n == 0 or rng.random() < 0.85}))


def _devices(town: TownPlan, seed: int, start_ms: int, end_ms: int, out: list[Happening]) -> None:
    for home in town.households:
        for thing, unit in ((town.water_meter(home.index), "m3"), (town.power_meter(home.index), "kWh")):
            for at in _phased(start_ms, end_ms, METER_EVERY_H, _phase(seed, thing)):
                out.append(Happening(at, "meter", thing, home.index, {"unit": unit}))
        if home.panel is not None:
            for at in _phased(start_ms, end_ms, HEARTBEAT_EVERY_H, _phase(seed, home.panel)):
                out.append(Happening(at, "heartbeat", home.panel, home.index))
    for spec in (*town.trash_bins, *town.zones):
        kind = "fill" if spec.type == "trash_bin" else "soil"
        out.extend(Happening(at, kind, spec.thing_name)
                   for at in _phased(start_ms, end_ms, BIN_EVERY_H, _phase(seed, spec.thing_name)))
    for spec in (*town.recycling_bins, *town.doors):
        out.extend(Happening(at, "heartbeat", spec.thing_name)
                   for at in _phased(start_ms, end_ms, HEARTBEAT_EVERY_H, _phase(seed, spec.thing_name)))


def _leaks(town: TownPlan, start_ms: int, end_ms: int, out: list[Happening]) -> int:
    """Hourly night readings of a leaking home's water meter, when a whole night 00:00–06:00 fits."""
    first_night = (start_ms + CHINA_OFFSET_MS) // DAY_MS * DAY_MS - CHINA_OFFSET_MS
    nights = [n for n in (first_night, first_night + DAY_MS) if start_ms <= n and n + 6 * HOUR_MS <= end_ms]
    leaks = 0
    for home in town.households:
        if home.leaky and nights:
            leaks += 1
            out.extend(Happening(nights[0] + HOUR_MS // 2 + k * HOUR_MS, "meter", town.water_meter(home.index),
                                 home.index, {"unit": "m3"}) for k in range(6))
    return leaks


def _doors(town: TownPlan, rng: random.Random, start_ms: int, end_ms: int, out: list[Happening]) -> int:
    trips = habits.poisson(rng, habits.expected_count(start_ms, end_ms, habits.DOOR_HOURS,
                                                      DOOR_TRIPS_PER_DAY * len(town.households)))
    for _ in range(trips):
        door = rng.choice(town.doors)
        at = habits.pick_time(rng, start_ms, end_ms, habits.DOOR_HOURS) or start_ms
        method = rng.choices(("face", "card", "qr"), weights=(70, 20, 10))[0]
        if rng.random() < 0.03:  # the camera missed a face; the card works
            out.append(Happening(at, "access", door.thing_name, data={"result": "denied", "method": "face"}))
            at, method = at + 20_000, "card"
        out.append(Happening(at, "access", door.thing_name, data={"result": "granted", "method": method}))
    share = (end_ms - start_ms) / DAY_MS
    bursts = max(1, min(len(town.doors), round(len(town.doors) / 3 * share)))
    for door in rng.sample(town.doors, bursts):  # someone tries a lost card five times in a minute
        at = _anytime(rng, start_ms, max(start_ms + 1, end_ms - 2 * MINUTE_MS))
        out.extend(Happening(at + k * 12_000, "access", door.thing_name, data={"result": "denied", "method": "card"})
                   for k in range(5))
    return bursts


def _security(town: TownPlan, rng: random.Random, start_ms: int, end_ms: int, out: list[Happening]) -> None:
    """Homes with a panel are armed away before the day; someone breaks into one; one family comes home."""
    homes = town.panels()
    if not homes:
        return
    rng.shuffle(homes)
    share = (end_ms - start_ms) / DAY_MS
    intrusions = max(1, min(len(homes) - 1 or 1, round(len(homes) * 0.1 * share)))
    for home in homes[:intrusions]:
        out.append(Happening(_anytime(rng, start_ms, end_ms), "intrusion", str(home.panel), home.index,
                             {"sensor": rng.choice(("客厅", "阳台门", "卧室"))}))
    if len(homes) > intrusions:
        home = homes[intrusions]
        out.append(Happening(_anytime(rng, start_ms, end_ms), "homecoming", str(home.panel), home.index,
                             {"sensor": "入户门"}))


def _orders(town: TownPlan, rng: random.Random, start_ms: int, end_ms: int, out: list[Happening]) -> set[int]:
    mean = habits.expected_count(start_ms, end_ms, habits.ORDER_HOURS, ORDERS_PER_DAY * len(town.households))
    count = max(1, habits.poisson(rng, mean))
    residents = [h.index for h in town.households if h.app_user] or [0]
    services = list(habits.SERVICES)
    shares = [habits.SERVICES[s][3] for s in services]
    orderers: set[int] = set()
    for n in range(count):
        at = habits.pick_time(rng, start_ms, end_ms, habits.ORDER_HOURS) or (start_ms + end_ms) // 2
        service = rng.choices(services, weights=shares)[0]
        household = rng.choice(residents)
        orderers.add(household)
        out.append(Happening(at, "order", household=household, data={
            "service_id": service, "note": rng.choice(habits.ORDER_NOTES[service]),
            "pays": n == 0 or rng.random() < 0.9}))
    return orderers
