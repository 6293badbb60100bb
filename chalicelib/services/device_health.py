"""Which devices have gone quiet."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.devices import is_silent
from chalicelib.services.deps import Deps


@dataclass(frozen=True)
class HealthReport:
    total: int
    silent: int


def count_silent_devices(deps: Deps) -> HealthReport:
    now = deps.clock.now_ms()
    total = silent = 0
    cursor: str | None = None
    while True:
        page = deps.communities.list_all(100, cursor)
        for community in page.items:
            device_cursor: str | None = None
            while True:
                devices = deps.devices.list_for_community(community.community_id, 100, device_cursor)
                total += len(devices.items)
                silent += sum(1 for device in devices.items if is_silent(device, now))
                device_cursor = devices.next_cursor
                if device_cursor is None:
                    break
        cursor = page.next_cursor
        if cursor is None:
            return HealthReport(total=total, silent=silent)
