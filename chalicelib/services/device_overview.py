"""What staff see of their devices at a glance: online or not, and how full each trash bin is.

A device is online while it is active and has been heard from within three heartbeat intervals (the
same rule that raises the offline alarm); one never heard from is not online. A bin's fill is the last
reading the cleaning-task rules applied; the bins of a page are read with one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.devices import Device, DeviceType, is_silent
from chalicelib.services.cached_settings import community_settings
from chalicelib.services.deps import Deps


@dataclass(frozen=True)
class DeviceOverview:
    device: Device
    online: bool
    fill_pct: float | None  # trash bins that have reported a fill; None otherwise


def overview(deps: Deps, community_id: str, devices: Sequence[Device]) -> list[DeviceOverview]:
    if not devices:
        return []
    now = deps.clock.now_ms()
    interval_s = community_settings(deps, community_id).heartbeat_interval_s
    bins = [d.thing_name for d in devices if d.type is DeviceType.TRASH_BIN]
    fills = deps.task_book.last_fills(bins) if bins and deps.task_book is not None else {}
    return [DeviceOverview(device=d, fill_pct=fills.get(d.thing_name),
                           online=d.is_active and d.last_seen_ms is not None and not is_silent(d, now, interval_s))
            for d in devices]
