"""Device ingestion: every message a device publishes is accepted once, or rejected with a reason.

Seams for capabilities: ``INGESTERS`` maps a kind to its own ingestion when what the message does must
be written in the same transaction as its dedupe marker (a weigh-in's credit); ``EFFECTS`` maps a kind
to what it does once the message passed its checks (fill tasks, meter usage, alarms …) — run before the
message is marked processed, so an effect must be idempotent by (thing, event id). A kind with neither
is recorded only: the device's ``last_seen`` and last event move, and the event is marked processed.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.device_messages import (
    DeviceMessage,
    RawDeviceMessage,
    check_reading,
    check_sender,
    check_timestamp,
)
from chalicelib.domain.devices import Device
from chalicelib.domain.rejects import Rejected
from chalicelib.ports import RecordOutcome
from chalicelib.services import irrigation, recycling, usage
from chalicelib.services.cleaning_tasks import apply_fill
from chalicelib.services.dead_letters import IngestResult, Outcome, reject
from chalicelib.services.deps import Deps
from chalicelib.services.device_health import back_online
from chalicelib.services.doors import record_access
from chalicelib.services.home_security import on_security_message

__all__ = ["EFFECTS", "INGESTERS", "IngestResult", "Outcome", "ingest", "reject"]


Effect = Callable[[Deps, DeviceMessage, Device], None]
#: kind → what the message does besides being recorded (filled in by later capabilities)
EFFECTS: dict[str, Effect] = {
    "fill": apply_fill,
    "access": record_access,
    "security": on_security_message,
    "soil": irrigation.on_soil,
    "meter": usage.count_reading,
}
#: kind → its own ingestion (dedupe, checks and effect in one transaction)
INGESTERS: dict[str, Callable[[Deps, DeviceMessage, RawDeviceMessage], IngestResult]] = {
    "weighin": recycling.credit_weighin,
}


def ingest(deps: Deps, message: DeviceMessage, raw: RawDeviceMessage) -> IngestResult:
    own = INGESTERS.get(message.kind)
    if own is not None:
        return own(deps, message, raw)
    device, seen = deps.device_events.load(message.thing_name, message.event_id)
    if seen:
        return IngestResult(Outcome.DUPLICATE)
    # The effect runs before the message is marked processed: if it fails, the queue redelivers the
    # message and the effect runs again (effects are idempotent by event id); marked first, a failed
    # effect would be lost for good. An effect may refuse the message by its own rules (a meter going
    # backwards): that is a reject like any other, and the message is never counted.
    try:
        device = check_sender(message, device)
        check_timestamp(message.ts_ms, message.received_at_ms, deps.clock_window)
        check_reading(message.reading)
        effect = EFFECTS.get(message.kind)
        if effect is not None:
            effect(deps, message, device)
    except Rejected as rejected:
        return reject(deps, raw, rejected, event_id=message.event_id)
    if device.offline_alarm:  # marked by the health check; costs nothing for every other device
        back_online(deps, device)
    advance = device.last_seen_ms is None or message.received_at_ms > device.last_seen_ms
    if deps.device_events.record(message, advance) is RecordOutcome.DUPLICATE:
        return IngestResult(Outcome.DUPLICATE)
    return IngestResult(Outcome.ACCEPTED)
