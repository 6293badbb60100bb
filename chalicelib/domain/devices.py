"""Devices of a community and what each kind of device may report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class DeviceType(StrEnum):
    RECYCLING_BIN = "recycling_bin"
    TRASH_BIN = "trash_bin"
    WATER_METER = "water_meter"
    ELECTRICITY_METER = "electricity_meter"
    DOOR = "door"
    IRRIGATION = "irrigation"
    SECURITY_PANEL = "security_panel"


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


#: The message kinds each device type may publish (every device may send heartbeats).
KINDS_BY_TYPE: dict[DeviceType, frozenset[str]] = {
    DeviceType.RECYCLING_BIN: frozenset({"weighin", "heartbeat"}),
    DeviceType.TRASH_BIN: frozenset({"fill", "heartbeat"}),
    DeviceType.WATER_METER: frozenset({"meter", "heartbeat"}),
    DeviceType.ELECTRICITY_METER: frozenset({"meter", "heartbeat"}),
    DeviceType.DOOR: frozenset({"access", "heartbeat"}),
    DeviceType.IRRIGATION: frozenset({"soil", "heartbeat"}),
    DeviceType.SECURITY_PANEL: frozenset({"security", "heartbeat"}),
}

#: AWS IoT thing names: 1–128 of letters, digits and ``:_-``. MQTT topic levels must not hold ``/+#``.
THING_NAME = re.compile(r"[A-Za-z0-9:_-]{1,128}")  # use fullmatch: "$" would allow a trailing newline
#: A manufacturer serial number as staff pre-register it and the device presents it when it provisions
#: itself (functions/preprovision compares them exactly); also a valid IoT thing attribute value.
SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class LastEvent:
    kind: str
    event_id: str
    ts_ms: int


@dataclass(frozen=True)
class Device:
    thing_name: str
    community_id: str
    type: DeviceType
    status: DeviceStatus
    registered_at_ms: int
    last_seen_ms: int | None = None
    last_event: LastEvent | None = None
    #: where it is: a household's meter or security panel names its building and room; a door, bin or
    #: irrigation zone may name its place in ``location`` ("north gate", "zone A")
    building: str | None = None
    room: str | None = None
    location: str | None = None
    #: a device-offline alarm was raised for it and not yet cleared by a message from it
    offline_alarm: bool = False
    #: fleet provisioning (functions/preprovision): the serial staff pre-registered, and the certificate
    #: the pre-provisioning hook accepted for it, and when (None until the device provisioned itself)
    serial: str | None = None
    certificate_id: str | None = None
    provisioned_at_ms: int | None = None

    @property
    def household(self) -> str | None:
        """``{building}-{room}`` for a device that belongs to one household."""
        return f"{self.building}-{self.room}" if self.building and self.room else None

    @property
    def is_active(self) -> bool:
        return self.status is DeviceStatus.ACTIVE

    def accepts(self, kind: str) -> bool:
        return kind in KINDS_BY_TYPE[self.type]


#: DESIGN §5 community setting ``heartbeat_interval_s`` (default); a device is silent after 3 intervals
DEFAULT_HEARTBEAT_INTERVAL_S = 300
SILENT_AFTER_INTERVALS = 3


def is_silent(device: Device, now_ms: int, heartbeat_interval_s: int = DEFAULT_HEARTBEAT_INTERVAL_S) -> bool:
    """Active and not heard from for three heartbeat intervals (since registration if never heard)."""
    if not device.is_active:
        return False
    last = device.last_seen_ms if device.last_seen_ms is not None else device.registered_at_ms
    return now_ms - last > SILENT_AFTER_INTERVALS * heartbeat_interval_s * 1000
