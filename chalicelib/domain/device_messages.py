"""What devices say (DESIGN §5 device messages) and the rules a message must pass.

The reading dataclasses are the typed payload of each kind. The edge (handlers/) validates raw JSON
into them with pydantic in strict mode; the plausibility rules that need no I/O live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.devices import Device
from chalicelib.domain.rejects import Rejected, RejectReason

TOPIC_PREFIX = ("dt", "linli")
RECYCLING_CATEGORIES = ("paper", "plastic", "metal", "bottle", "textile")
MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # use fullmatch
MAX_EVENT_ID_LENGTH = 128


@dataclass(frozen=True)
class Weighin:
    category: str
    weight_g: int
    phone: str


@dataclass(frozen=True)
class Fill:
    fill_pct: float


@dataclass(frozen=True)
class MeterReading:
    reading: float
    unit: Literal["m3", "kWh"]


@dataclass(frozen=True)
class Access:
    door: str
    result: Literal["granted", "denied"]
    method: Literal["face", "qr", "card"]


@dataclass(frozen=True)
class Soil:
    moisture_pct: float
    temp_c: float


@dataclass(frozen=True)
class SecurityEvent:
    sensor: str
    state: Literal["motion", "open", "closed"]


@dataclass(frozen=True)
class Heartbeat:
    pass


Reading = Weighin | Fill | MeterReading | Access | Soil | SecurityEvent | Heartbeat

READING_BY_KIND: dict[str, type[Reading]] = {
    "weighin": Weighin,
    "fill": Fill,
    "meter": MeterReading,
    "access": Access,
    "soil": Soil,
    "security": SecurityEvent,
    "heartbeat": Heartbeat,
}


@dataclass(frozen=True)
class Topic:
    community_id: str
    thing_name: str
    kind: str


def parse_topic(topic: str) -> Topic:
    """``dt/linli/{community_id}/{thing_name}/{kind}`` → its parts, or a ``malformed_topic`` reject."""
    parts = topic.split("/")
    if len(parts) != 5 or tuple(parts[:2]) != TOPIC_PREFIX or not all(parts[2:]):
        raise Rejected(RejectReason.MALFORMED_TOPIC, f"topic {topic!r} is not dt/linli/{{cid}}/{{thing}}/{{kind}}")
    return Topic(community_id=parts[2], thing_name=parts[3], kind=parts[4])


@dataclass(frozen=True)
class DeviceMessage:
    """One message a device published, as the IoT rule delivered it."""

    community_id: str
    thing_name: str
    kind: str
    event_id: str
    ts_ms: int
    received_at_ms: int
    client_id: str | None
    reading: Reading


@dataclass(frozen=True)
class ClockWindow:
    max_age_ms: int
    max_ahead_ms: int


def check_timestamp(ts_ms: int, received_at_ms: int, window: ClockWindow) -> None:
    if ts_ms < received_at_ms - window.max_age_ms:
        raise Rejected(RejectReason.STALE_TIMESTAMP,
                       f"ts {ts_ms} is more than {window.max_age_ms // 3_600_000} h before receipt")
    if ts_ms > received_at_ms + window.max_ahead_ms:
        raise Rejected(RejectReason.FUTURE_TIMESTAMP,
                       f"ts {ts_ms} is more than {window.max_ahead_ms // 60_000} min after receipt")


def check_sender(message: DeviceMessage, device: Device | None) -> Device:
    """The device must exist, be active, live in the topic's community and publish under its own name."""
    if device is None:
        raise Rejected(RejectReason.UNKNOWN_DEVICE, f"no device {message.thing_name!r} is registered")
    if device.community_id != message.community_id:
        raise Rejected(RejectReason.WRONG_COMMUNITY,
                       f"device {device.thing_name!r} does not belong to community {message.community_id!r}")
    if not device.is_active:
        raise Rejected(RejectReason.DEVICE_DISABLED, f"device {device.thing_name!r} is disabled")
    if message.client_id is not None and message.client_id != device.thing_name:
        raise Rejected(RejectReason.FOREIGN_PUBLISHER,
                       f"client {message.client_id!r} published as {device.thing_name!r}")
    if not device.accepts(message.kind):
        raise Rejected(RejectReason.KIND_NOT_SUPPORTED,
                       f"a {device.type.value} does not send {message.kind!r} messages")
    return device


def _implausible(detail: str) -> Rejected:
    return Rejected(RejectReason.IMPLAUSIBLE_VALUE, detail)


def check_reading(reading: Reading) -> None:
    """Rules on values alone; rules needing community data (prices, limits) live with their use case."""
    match reading:
        case Weighin(category=category, weight_g=weight_g, phone=phone):
            if category not in RECYCLING_CATEGORIES:
                raise _implausible(f"unknown category {category!r}")
            if weight_g <= 0:
                raise _implausible(f"weight_g must be positive, got {weight_g}")
            if not MAINLAND_MOBILE.fullmatch(phone):
                raise _implausible("phone is not an 11-digit mainland mobile number")
        case Fill(fill_pct=pct):
            if not 0 <= pct <= 100:
                raise _implausible(f"fill_pct {pct} is outside 0–100")
        case MeterReading(reading=value, unit=_):
            if value < 0:
                raise _implausible(f"meter reading {value} is negative")
        case Soil(moisture_pct=moisture, temp_c=temp):
            if not 0 <= moisture <= 100:
                raise _implausible(f"moisture_pct {moisture} is outside 0–100")
            if not -50 <= temp <= 80:
                raise _implausible(f"temp_c {temp} is outside -50–80")
        case Access(door=door) if not door:
            raise _implausible("door is empty")
        case SecurityEvent(sensor=sensor) if not sensor:
            raise _implausible("sensor is empty")
        case _:
            return


@dataclass(frozen=True)
class RawDeviceMessage:
    """A message as the IoT rule forwarded it, before any of it is trusted."""

    topic: str
    payload: str
    client_id: str | None
    received_at_ms: int
