"""Dead-letter records for device messages the hub refuses: never credited, never silently dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class RejectReason(StrEnum):
    MALFORMED_ENVELOPE = "malformed_envelope"
    MALFORMED_TOPIC = "malformed_topic"
    MALFORMED_JSON = "malformed_json"
    INVALID_FIELDS = "invalid_fields"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    WRONG_COMMUNITY = "wrong_community"
    FOREIGN_PUBLISHER = "foreign_publisher"
    KIND_NOT_SUPPORTED = "kind_not_supported"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    IMPLAUSIBLE_VALUE = "implausible_value"
    NO_PRICE = "no_price"
    OVER_DAILY_CAP = "over_daily_cap"
    LEDGER_MISMATCH = "ledger_mismatch"
    METER_WENT_BACKWARDS = "meter_went_backwards"  # lower than the reading before it: rollover or swap
    METER_JUMP = "meter_jump"  # more used than a household plausibly can in the time between readings
    METER_OUT_OF_WINDOW = "meter_out_of_window"  # older than the readings the hub still keeps for the meter


class Rejected(Exception):
    """A device message failed a rule; the message becomes a reject record."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


#: the community bucket for messages whose topic names no community
UNKNOWN_COMMUNITY = "_unknown"
#: payloads are kept for staff to read, but a hostile device must not fill the table
MAX_PAYLOAD_CHARS = 4096
#: anything that looks like a mainland mobile number, wherever it sits in a payload
_PHONE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


@dataclass(frozen=True)
class Reject:
    community_id: str
    thing_name: str
    kind: str
    reason: RejectReason
    detail: str
    received_at_ms: int
    payload: str
    topic: str
    client_id: str | None = None
    event_id: str | None = None

    @staticmethod
    def clip(payload: str) -> str:
        """What staff may see of a payload: bounded in size, with phone numbers masked (DESIGN §6)."""
        payload = _PHONE.sub(r"\1****\2", payload)
        if len(payload) <= MAX_PAYLOAD_CHARS:
            return payload
        return payload[:MAX_PAYLOAD_CHARS] + "…"
