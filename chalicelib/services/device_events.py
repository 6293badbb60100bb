"""Device ingestion: every message a device publishes is accepted once, or rejected with a reason.

Seams for later capabilities: ``EFFECTS`` maps a message kind to what it does beyond being recorded
(recycling credits, fill alarms, meter usage …). Until a kind has an effect, it is recorded only:
the device's ``last_seen`` and last event move, and the event is marked processed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.device_messages import (
    DeviceMessage,
    RawDeviceMessage,
    check_reading,
    check_sender,
    check_timestamp,
    parse_topic,
)
from chalicelib.domain.devices import Device
from chalicelib.domain.rejects import UNKNOWN_COMMUNITY, Reject, Rejected
from chalicelib.ports import RecordOutcome
from chalicelib.services.deps import Deps


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    reason: str | None = None
    detail: str | None = None


Effect = Callable[[Deps, DeviceMessage, Device], None]
#: kind → what the message does besides being recorded (filled in by later capabilities)
EFFECTS: dict[str, Effect] = {}


def ingest(deps: Deps, message: DeviceMessage, raw: RawDeviceMessage) -> IngestResult:
    device, seen = deps.device_events.load(message.thing_name, message.event_id)
    if seen:
        return IngestResult(Outcome.DUPLICATE)
    try:
        device = check_sender(message, device)
        check_timestamp(message.ts_ms, message.received_at_ms, deps.clock_window)
        check_reading(message.reading)
    except Rejected as rejected:
        return reject(deps, raw, rejected, event_id=message.event_id)
    advance = device.last_seen_ms is None or message.received_at_ms > device.last_seen_ms
    if deps.device_events.record(message, advance) is RecordOutcome.DUPLICATE:
        return IngestResult(Outcome.DUPLICATE)
    effect = EFFECTS.get(message.kind)
    if effect is not None:
        effect(deps, message, device)
    return IngestResult(Outcome.ACCEPTED)


def reject(deps: Deps, raw: RawDeviceMessage, rejected: Rejected, event_id: str | None = None) -> IngestResult:
    """Write the dead-letter record staff see; nothing else is written for a rejected message."""
    try:
        topic = parse_topic(raw.topic)
        community_id, thing_name, kind = topic.community_id, topic.thing_name, topic.kind
    except Rejected:
        parts = raw.topic.split("/")
        community_id = parts[2] if len(parts) > 2 and parts[2] else UNKNOWN_COMMUNITY
        thing_name = parts[3] if len(parts) > 3 else ""
        kind = parts[4] if len(parts) > 4 else ""
    deps.rejects.add(Reject(
        community_id=community_id, thing_name=thing_name, kind=kind, reason=rejected.reason,
        detail=rejected.detail, received_at_ms=raw.received_at_ms, payload=Reject.clip(raw.payload),
        topic=raw.topic, client_id=raw.client_id, event_id=event_id,
    ))
    return IngestResult(Outcome.REJECTED, reason=rejected.reason.value, detail=rejected.detail)
