"""One community day on the wall clock: every planned happening at its simulated moment."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from localcloud.simulator import habits
from localcloud.simulator.agenda import Agenda
from localcloud.simulator.clock import MINUTE_MS, china_hour, now_ms, plausible
from localcloud.simulator.day_plan import DayPlan, Happening
from localcloud.simulator.devices import DeviceLinks
from localcloud.simulator.founding import EXIT_DELAY_S, Community
from localcloud.simulator.sensors import DeviceClock, SoilZone, TrashBin
from localcloud.simulator.tally import Tally, Weighin

#: sent from the diary's own thread; the rest (HTTP, or waiting for an exit delay) on its pool
DEVICE_KINDS = frozenset({"weighin", "meter", "fill", "soil", "access", "heartbeat", "stranger"})
WITHDRAW_ATTEMPTS = 8


def shifted(plan: DayPlan, delta_ms: int) -> DayPlan:
    """The same day, ``delta_ms`` later (the residents took a while to open their apps)."""
    moved = tuple(replace(h, at_ms=h.at_ms + delta_ms) for h in plan.happenings)
    return replace(plan, start_ms=plan.start_ms + delta_ms, end_ms=plan.end_ms + delta_ms, happenings=moved)


class Day:
    def __init__(self, community: Community, links: DeviceLinks, agenda: Agenda, tally: Tally,
                 bins: dict[str, TrashBin], zones: dict[str, SoilZone], clocks: dict[str, DeviceClock],
                 seed: int, day: int) -> None:
        self.community, self.links, self.agenda, self.tally = community, links, agenda, tally
        self.bins, self.zones, self.clocks = bins, zones, clocks
        self.homes = {h.index: h for h in community.town.households}
        self.doors = {d.thing_name: str(d.location) for d in community.town.doors}
        self.rng = random.Random(f"linli-residents:{seed}:{day}")
        self._ids = itertools.count()
        self.day = day

    def schedule(self, plan: DayPlan) -> None:
        for happening in plan.happenings:
            self.agenda.at(happening.at_ms, partial(self.happen, happening), inline=happening.kind in DEVICE_KINDS)

    def _send(self, thing: str, kind: str, ts_ms: int, fields: dict[str, Any]) -> None:
        payload = {"event_id": f"d{self.day}-{next(self._ids):06d}", "ts": ts_ms, **fields}
        self.links.publish(thing, kind, payload)
        self.tally.count(kind)

    def _ts(self, thing: str, at_ms: int) -> int:
        clock = self.clocks.setdefault(thing, DeviceClock())
        return plausible(clock.stamp(at_ms))

    def happen(self, h: Happening) -> None:
        handler: Callable[[Happening], None] = getattr(self, f"_{h.kind}")
        handler(h)

    # --------------------------------------------------------------------------------------- devices
    def _weighin(self, h: Happening) -> None:
        ts = plausible(h.at_ms)
        category, weight = str(h.data["category"]), int(h.data["weight_g"])
        self._send(h.thing, "weighin", ts, {"category": category, "weight_g": weight,
                                            "phone": self.community.residents.phone(h.household)})
        with self.tally.lock:
            if h.data.get("overweight"):
                self.tally.expected_rejects["implausible_value"] += 1
            else:
                credit = weight * habits.PRICES_FEN[category] // 1000
                self.tally.weighins.append(Weighin(category, weight, credit, ts))

    def _meter(self, h: Happening) -> None:
        ts = plausible(h.at_ms)
        home = self.homes[h.household]
        unit = str(h.data["unit"])
        reading = habits.water_m3(home.index, ts, home.leaky) if unit == "m3" else habits.power_kwh(home.index, ts)
        self._send(h.thing, "meter", ts, {"reading": reading, "unit": unit})

    def _fill(self, h: Happening) -> None:
        bin_ = self.bins[h.thing]
        self._report_fill(bin_, self._ts(h.thing, h.at_ms), *bin_.read(h.at_ms))

    def empty_bin(self, bin_: TrashBin) -> None:
        """The cleaner emptied it; the bin reports as the lid closes."""
        at = self.agenda.clock.sim_ms()
        self._report_fill(bin_, self._ts(bin_.thing, at), *bin_.empty(at, self.rng))
        with self.tally.lock:
            self.tally.bins_emptied += 1

    def _report_fill(self, bin_: TrashBin, ts: int, pct: int, change: str | None) -> None:
        self._send(bin_.thing, "fill", ts, {"fill_pct": pct})
        with self.tally.lock:
            self.tally.tasks_opened += change == "opened"
            self.tally.tasks_closed += change == "closed"

    def _soil(self, h: Happening) -> None:
        ts = self._ts(h.thing, h.at_ms)
        temp = round(14 + 14 * habits.SOIL_DRY_PER_H[china_hour(ts)] / 1.8, 1)
        self._send(h.thing, "soil", ts, {"moisture_pct": self.zones[h.thing].read(h.at_ms), "temp_c": temp})

    def _access(self, h: Happening) -> None:
        self._send(h.thing, "access", plausible(h.at_ms), {"door": self.doors[h.thing], **h.data})

    def _heartbeat(self, h: Happening) -> None:
        self._send(h.thing, "heartbeat", plausible(h.at_ms), {})

    def _stranger(self, h: Happening) -> None:
        """A new bin the installer switched on before staff registered it: the hub files a reject."""
        self._send(h.thing, "heartbeat", plausible(h.at_ms), {})
        with self.tally.lock:
            self.tally.expected_rejects["unknown_device"] += 1

    def _motion(self, h: Happening) -> None:
        """Panels report on the hub's wall clock: arming happened there, and motion counts only after it."""
        ready = self.community.armed_at + EXIT_DELAY_S + 1
        if time.time() < ready:
            time.sleep(ready - time.time())
        self._send(h.thing, "security", now_ms() - 200, {"sensor": str(h.data["sensor"]), "state": "motion"})

    def _intrusion(self, h: Happening) -> None:
        self._motion(h)
        home = self.homes[h.household]
        with self.tally.lock:
            self.tally.intrusions.add(f"{home.building}-{home.room}")

    def _homecoming(self, h: Happening) -> None:
        """The family is back: the hall sensor sees them, and they disarm within the entry delay."""
        self._motion(h)
        self.community.residents.set_security(self.homes[h.household], "disarmed")

    # ------------------------------------------------------------------------------------- residents
    def _bind_phone(self, h: Happening) -> None:
        self.community.residents.bind_phone(self.homes[h.household])

    def _order(self, h: Happening) -> None:
        residents = self.community.residents
        track, request_payment = residents.order(self.homes[h.household], str(h.data["service_id"]),
                                                 h.data.get("note"))
        if h.data.get("pays"):
            self.agenda.after(self.rng.randint(20, 90) * 1000, lambda: residents.pay(track, request_payment))
        else:  # changed their mind at the payment sheet
            self.agenda.after(self.rng.randint(5, 20) * MINUTE_MS, lambda: residents.cancel(track))

    def _withdrawal(self, h: Happening, attempt: int = 1) -> None:
        residents = self.community.residents
        track = residents.withdraw(self.homes[h.household], bool(h.data["confirms"]))
        if track is None:  # the credit has not reached the wallet yet: look again later
            if attempt < WITHDRAW_ATTEMPTS:
                later = max(30 * MINUTE_MS, int(5000 * self.agenda.clock.speed))  # ≥ 5 wall seconds
                self.agenda.after(later, lambda: self._withdrawal(h, attempt + 1))
            else:
                with self.tally.lock:
                    self.tally.withdrawals_skipped += 1
            return
        self.agenda.after(self.rng.randint(1, 5) * MINUTE_MS, lambda: residents.answer_transfer(track))
