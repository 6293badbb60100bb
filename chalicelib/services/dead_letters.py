"""What became of a device message, and the dead-letter record a refused one leaves."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.device_messages import RawDeviceMessage, parse_topic
from chalicelib.domain.rejects import UNKNOWN_COMMUNITY, Reject, Rejected
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
