"""A simulated community on a running hub: found it once, then live one day after another."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from localcloud.simulator.agenda import Agenda
from localcloud.simulator.backlog import DeviceQueue
from localcloud.simulator.clock import SimClock
from localcloud.simulator.day import Day, shifted
from localcloud.simulator.day_plan import DayPlan, plan_day
from localcloud.simulator.devices import DeviceLinks
from localcloud.simulator.founding import Community, found
from localcloud.simulator.hub_client import HubClient
from localcloud.simulator.outcome import Expected, HubView, settle
from localcloud.simulator.progress import Progress
from localcloud.simulator.sensors import DeviceClock, SoilZone, TrashBin, new_bins, new_zones
from localcloud.simulator.staff import Rounds
from localcloud.simulator.summary import RunFacts
from localcloud.simulator.tally import Tally

log = logging.getLogger("localcloud.simulator")


@dataclass(frozen=True)
class Options:
    api: str
    mqtt_host: str
    mqtt_port: int
    sandbox: str
    admin_token: str
    aws: str | None = None
    region: str = "us-east-1"
    households: int = 500
    hours: float = 24
    speed: float = 600
    seed: int = 1
    settle_timeout_s: float = 600
    name: str | None = None
    settings: dict[str, int] = field(default_factory=dict)  # community settings beyond the simulator's own


class Simulation:
    def __init__(self, options: Options, progress: Progress) -> None:
        self.options, self.progress = options, progress
        self.hub = HubClient(options.api, options.sandbox, options.admin_token)
        self.tally = Tally()
        self.queue = DeviceQueue(options.aws, options.region)
        self.agenda = Agenda(SimClock.ending_now(options.hours, options.speed))
        self.facts = RunFacts(options.households, options.hours, options.speed, options.seed,
                              queue_readable=self.queue.readable)
        self.community: Community | None = None
        self.links: DeviceLinks | None = None
        self.bins: dict[str, TrashBin] = {}
        self.zones: dict[str, SoilZone] = {}
        self.clocks: dict[str, DeviceClock] = {}  # per device, across days
        self._stop = threading.Event()
        self._runner: threading.Thread | None = None

    def found(self) -> Community:
        started = time.monotonic()
        o = self.options
        community = found(self.hub, o.households, o.seed, o.speed, self.agenda, self.tally, self.progress.step, o.name,
                          o.settings)
        self.community = community
        self.facts.community_id = community.community_id
        town = community.town
        start = self.agenda.clock.sim_start_ms
        rng = random.Random(f"linli-sensors:{o.seed}")
        self.bins = new_bins([b.thing_name for b in town.trash_bins], start, rng)
        self.zones = new_zones([z.thing_name for z in town.zones], start, rng)
        self.links = DeviceLinks(o.mqtt_host, o.mqtt_port, community.community_id, self.tally.problem)
        always_on = [d.thing_name for d in town.devices() if d.type not in ("water_meter", "electricity_meter")]
        self.links.connect(always_on, set(self.zones), self._command)
        self.facts.setup_s += time.monotonic() - started
        return community

    def _command(self, thing: str, command: str, payload: dict[str, Any]) -> None:
        if command == "water" and thing in self.zones:
            self.zones[thing].watered(int(payload.get("duration_s", 600)))
            with self.tally.lock:
                self.tally.irrigation_commands[thing] += 1

    def live_day(self, day: int = 0, hours: float | None = None) -> DayPlan:
        """Plan the day, let the residents open their apps, then run it on the wall clock until the hub has
        taken in every message and the partners have finished their work."""
        assert self.community is not None and self.links is not None
        o, community = self.options, self.community
        hours = o.hours if hours is None else hours
        started = time.monotonic()
        draft = SimClock.ending_now(hours, o.speed)
        plan = plan_day(community.town, draft.sim_start_ms, draft.sim_end_ms, o.seed, day)
        homes = {h.index: h for h in community.town.households}
        waking = sorted(plan.early_birds | plan.late_binders)
        for done, index in enumerate(waking, 1):
            community.residents.token(homes[index])
            if index in plan.early_birds:
                community.residents.bind_phone(homes[index])
            if done % 10 == 0 or done == len(waking):
                self.progress.step("residents opening the app", done, len(waking))
        if day > 0:  # families away again arm their homes
            for home in community.town.panels():
                community.residents.set_security(home, "armed_away")
            community.armed_at = time.time()
        clock = SimClock.ending_now(hours, o.speed)
        plan = shifted(plan, clock.sim_start_ms - draft.sim_start_ms)
        self.agenda.clock = clock
        for bin_ in self.bins.values():  # a new day: levels carry over, the day's time starts again
            bin_.last_ms = plan.start_ms
        for zone in self.zones.values():
            zone.last_ms = plan.start_ms
        self.facts.setup_s += time.monotonic() - started
        runner = Day(community, self.links, self.agenda, self.tally, self.bins, self.zones, self.clocks, o.seed, day)
        runner.schedule(plan)
        Rounds(self.hub, community.community_id, community.staff, self.agenda, self.bins, runner.empty_bin,
               o.seed).start(plan.start_ms, plan.end_ms)
        with self.tally.lock:
            self.tally.leaks += plan.leaks
        self.progress.follow(clock, self.tally, self.queue, label=f"day {day + 1} " if day else "")
        began = time.monotonic()
        self._keep_running()
        end = clock.real_at(plan.end_ms)
        while not self._stop.is_set() and (time.time() < end or self.agenda.pending(until_real=end)):
            time.sleep(0.1)
        self.facts.day_s += time.monotonic() - began
        began = time.monotonic()
        self.links.flush()
        self._drain(began + o.settle_timeout_s)
        self.facts.drain_s += time.monotonic() - began
        self.progress.stop()
        return plan

    def _keep_running(self) -> None:
        """The diary runs on its own thread, through the day and after it (partners finishing their work,
        transfers being confirmed) and on into the next day."""
        if self._runner is None:
            self._runner = threading.Thread(target=self.agenda.run, args=(self._stop,), name="sim-agenda",
                                            daemon=True)
            self._runner.start()

    def _drain(self, deadline: float) -> None:
        calm = 0
        while time.monotonic() < deadline and not self._stop.is_set():
            depth = self.queue.depth()
            quiet = depth in (0, None) and self.agenda.pending() == 0 and self.tally.open_work() == 0
            calm = calm + 1 if quiet else 0
            if calm >= 2:
                return
            time.sleep(0.5)

    def check(self, plan: DayPlan, since_ms: int) -> tuple[HubView, list[str]]:
        assert self.community is not None
        began = time.monotonic()
        expected = Expected(door_bursts=plan.door_bursts, leaks=self.tally.leaks)
        view, wrong = settle(self.hub, self.community.community_id, self.community.staff["manager"], self.tally,
                             since_ms, expected, self.options.settle_timeout_s, time.sleep)
        self.facts.settle_s += time.monotonic() - began
        return view, wrong

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self.hub.closing.set()
        self.progress.stop()
        if self._runner is not None:
            self._runner.join(timeout=5)
        self.agenda.close()
        if self.links is not None:
            self.links.close()
        if self.community is not None:
            for desk in self.community.partners:
                desk.close()
