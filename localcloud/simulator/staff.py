"""Property staff on their rounds: the cleaner empties the bins the hub lists as tasks, the guard
acknowledges open alarms. Both look at the staff API with their own tokens, as on their phones."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from localcloud.simulator.agenda import Agenda
from localcloud.simulator.clock import MINUTE_MS
from localcloud.simulator.hub_client import HubClient
from localcloud.simulator.sensors import TrashBin

CLEANER_ROUND_MS = 30 * MINUTE_MS
GUARD_ROUND_MS = 60 * MINUTE_MS


class Rounds:
    def __init__(self, hub: HubClient, community_id: str, staff: dict[str, str], agenda: Agenda,
                 bins: dict[str, TrashBin], empty_bin: Callable[[TrashBin], None], seed: int) -> None:
        self.hub, self.base, self.staff, self.agenda = hub, f"/v1/admin/communities/{community_id}", staff, agenda
        self.bins, self.empty_bin = bins, empty_bin
        self.rng = random.Random(f"linli-staff:{seed}")
        self.acknowledged: set[str] = set()
        self.handled: set[str] = set()  # tasks the cleaner has taken (the list may lag behind the bins)
        self.until_ms = 0

    def start(self, start_ms: int, end_ms: int) -> None:
        """Rounds from ``start_ms`` until the end of the day."""
        self.until_ms = end_ms
        self.agenda.at(start_ms + CLEANER_ROUND_MS, self.cleaner_round)
        self.agenda.at(start_ms + GUARD_ROUND_MS, self.guard_round)

    def cleaner_round(self) -> None:
        try:
            tasks = self.hub.pages(self.base + "/tasks?status=open", token=self.staff["cleaner"])
            for task in tasks:
                found = self.bins.get(str(task.get("thing_name")))
                if found is None or found.emptying or task["task_id"] in self.handled:
                    continue
                self.handled.add(str(task["task_id"]))
                found.emptying = True
                walk = self.rng.randint(10, 40) * MINUTE_MS
                self.agenda.after(walk, partial(self.empty_bin, found), inline=True)
        finally:
            self._again(CLEANER_ROUND_MS, self.cleaner_round)

    def guard_round(self) -> None:
        try:
            for alarm in self.hub.pages(self.base + "/alarms?status=open", token=self.staff["guard"]):
                alarm_id = str(alarm["alarm_id"])
                if alarm_id in self.acknowledged:
                    continue
                self.hub.call("POST", f"{self.base}/alarms/{alarm_id}/ack", {}, token=self.staff["guard"])
                self.acknowledged.add(alarm_id)
        finally:
            self._again(GUARD_ROUND_MS, self.guard_round)

    def _again(self, every_ms: int, task: Callable[[], None]) -> None:
        upcoming = self.agenda.clock.sim_ms() + every_ms
        if upcoming < self.until_ms:
            self.agenda.at(upcoming, task)
