"""Which devices have gone quiet, and the one alarm each silent device raises.

A device is silent after three of its community's heartbeat intervals without a message. The first
check that finds it silent raises a ``device_offline`` alarm (dedup ``offline:{thing}``) and marks the
device's item; later checks skip marked devices, so a silent device alarms once. Ingestion clears the
alarm when a message comes from a marked device — the mark travels with the device item ingestion
reads anyway, so the devices that never went quiet pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from chalicelib.domain.alarms import AlarmSpec, Severity
from chalicelib.domain.devices import SILENT_AFTER_INTERVALS, Device, is_silent
from chalicelib.ports import Page
from chalicelib.services import alarms
from chalicelib.services.deps import Deps

PAGE = 100
#: who clears the alarm when the device speaks again (``cleared_by``)
BACK_ONLINE = "rule:device_back_online"
T = TypeVar("T")


@dataclass(frozen=True)
class HealthReport:
    total: int
    silent: int
    alarmed: int = 0  # offline alarms this check raised


def offline_key(thing_name: str) -> str:
    return f"offline:{thing_name}"


def _offline_alarm(device: Device, heartbeat_interval_s: int, now_ms: int) -> AlarmSpec:
    last = device.last_seen_ms if device.last_seen_ms is not None else device.registered_at_ms
    return AlarmSpec(
        community_id=device.community_id, kind="device_offline", dedup_key=offline_key(device.thing_name),
        severity=Severity.WARNING, title=f"{device.thing_name} 离线 (offline)", subject=device.thing_name,
        detail={"thing_name": device.thing_name, "type": device.type.value, "location": device.location,
                "household": device.household, "last_seen_ms": device.last_seen_ms,
                "silent_for_s": (now_ms - last) // 1000,
                "silent_after_s": SILENT_AFTER_INTERVALS * heartbeat_interval_s})


def _every(fetch: Callable[[int, str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paged listing, one page of ``PAGE`` at a time."""
    cursor: str | None = None
    while True:
        page = fetch(PAGE, cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def check_devices(deps: Deps) -> HealthReport:
    """Every community's devices: count the silent ones, alarm once for each newly silent one."""
    now = deps.clock.now_ms()
    total = silent = alarmed = 0
    for community in _every(deps.communities.list_all):
        interval_s = deps.communities.terms(community.community_id).settings.heartbeat_interval_s
        for device in _every(partial(deps.devices.list_for_community, community.community_id)):
            total += 1
            if not is_silent(device, now, interval_s):
                continue
            silent += 1
            if not device.offline_alarm:
                alarms.raise_alarm(deps, _offline_alarm(device, interval_s, now))
                deps.health_flags.mark_offline_alarm(device)  # after: a crash between alarms again
                alarmed += 1
    return HealthReport(total=total, silent=silent, alarmed=alarmed)


def back_online(deps: Deps, device: Device) -> None:
    """A marked device spoke: clear its offline alarm (if staff have not already), then the mark."""
    alarms.clear_condition(deps, device.community_id, offline_key(device.thing_name), BACK_ONLINE)
    deps.health_flags.clear_offline_alarm(device.thing_name)
