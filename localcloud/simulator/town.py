"""The community itself — households and the devices installed — as a pure function of the seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from localcloud.simulator import habits

HOUSEHOLDS_PER_BUILDING = 72  # 18 floors × 4 flats
DOOR_NAMES = ("北门", "南门", "东门", "西门", "地库入口", "1号楼大堂", "2号楼大堂", "3号楼大堂")
MAX_HOUSEHOLDS = 9999  # phone numbers end in the household's four digits


@dataclass(frozen=True)
class Household:
    index: int
    building: str
    room: str
    app_user: bool  # has the mini-program: logs in with WeChat and binds the phone
    recycles_per_day: float
    favourites: tuple[str, ...]
    panel: str | None  # the home security panel's thing name, if the home has one
    leaky: bool  # a running toilet: water all night


@dataclass(frozen=True)
class DeviceSpec:
    thing_name: str
    type: str
    building: str | None = None
    room: str | None = None
    location: str | None = None

    def registration(self) -> dict[str, str]:
        body = {"thing_name": self.thing_name, "type": self.type}
        for key in ("building", "room", "location"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


@dataclass(frozen=True)
class TownPlan:
    tag: str
    households: tuple[Household, ...]
    recycling_bins: tuple[DeviceSpec, ...]
    trash_bins: tuple[DeviceSpec, ...]
    doors: tuple[DeviceSpec, ...]
    zones: tuple[DeviceSpec, ...]

    def water_meter(self, index: int) -> str:
        return f"{self.tag}-wm-{index:04d}"

    def power_meter(self, index: int) -> str:
        return f"{self.tag}-em-{index:04d}"

    def bin_of(self, household: Household) -> DeviceSpec:
        """The recycling bin by the household's building."""
        return self.recycling_bins[int(household.building) % len(self.recycling_bins)]

    def panels(self) -> list[Household]:
        return [h for h in self.households if h.panel is not None]

    def devices(self) -> list[DeviceSpec]:
        found = [*self.recycling_bins, *self.trash_bins, *self.doors, *self.zones]
        for h in self.households:
            found.append(DeviceSpec(self.water_meter(h.index), "water_meter", h.building, h.room))
            found.append(DeviceSpec(self.power_meter(h.index), "electricity_meter", h.building, h.room))
            if h.panel is not None:
                found.append(DeviceSpec(h.panel, "security_panel", h.building, h.room))
        return found


def address(index: int) -> tuple[str, str]:
    """Building and room ("3", "1204") of the ``index``-th household."""
    building, flat = divmod(index, HOUSEHOLDS_PER_BUILDING)
    floor, unit = divmod(flat, 4)
    return str(building + 1), f"{floor + 1}{unit + 1:02d}"


def plan_town(households: int, seed: int, tag: str) -> TownPlan:
    if not 1 <= households <= MAX_HOUSEHOLDS:
        raise ValueError(f"households must be within 1..{MAX_HOUSEHOLDS}")
    rng = random.Random(f"linli-town:{seed}")
    panels = set(rng.sample(range(households), min(households, max(2, households // 50))))
    leaky = set(rng.sample(range(households), max(1, households // 250)))
    homes = []
    for index in range(households):
        building, room = address(index)
        favourites = tuple(rng.sample(habits.CATEGORIES, rng.choice((1, 1, 2))))
        homes.append(Household(
            index=index, building=building, room=room, app_user=rng.random() < 0.7,
            recycles_per_day=rng.choice((0.1, 0.2, 0.3, 0.4, 0.6)), favourites=favourites,
            panel=f"{tag}-sp-{index:04d}" if index in panels else None, leaky=index in leaky))
    for index in panels:  # a household with a security panel arms it from the app
        homes[index] = replace(homes[index], app_user=True)
    buildings = math.ceil(households / HOUSEHOLDS_PER_BUILDING)
    recycling = tuple(DeviceSpec(f"{tag}-rb-{n:02d}", "recycling_bin", location=f"{n + 1}号楼回收站")
                      for n in range(max(1, min(buildings, math.ceil(households / 50)))))
    trash = tuple(DeviceSpec(f"{tag}-tb-{n:02d}", "trash_bin", location=f"垃圾投放点{n + 1}")
                  for n in range(max(2, math.ceil(households / 25))))
    doors = tuple(DeviceSpec(f"{tag}-door-{n}", "door", location=DOOR_NAMES[n])
                  for n in range(max(2, min(len(DOOR_NAMES), math.ceil(households / 80)))))
    zones = tuple(DeviceSpec(f"{tag}-zone-{n}", "irrigation", location=f"绿地{chr(ord('A') + n)}")
                  for n in range(max(1, min(6, math.ceil(households / 120)))))
    return TownPlan(tag=tag, households=tuple(homes), recycling_bins=recycling, trash_bins=trash, doors=doors,
                    zones=zones)

