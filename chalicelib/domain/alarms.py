"""Alarms (告警): one model for everything that needs a person — a leak, a full bin left too long, a door
tried five times, an intrusion, a device gone silent.

An alarm is ``open`` → ``acknowledged`` (someone is on it) → ``cleared`` (it is over). A condition is
named by its ``dedup_key`` (e.g. ``offline:{thing}``): while an alarm for that key is not cleared, a new
trigger updates it (count, last time, latest detail) instead of opening another, so repeated or
redelivered device messages never open duplicates. Clearing ends it; the next trigger opens a new one.

Alarms that must be acknowledged in time (an intrusion) escalate: the alarm carries the chain of staff
to ask in turn (guards on duty, then the manager) and when the current one's time is up; the escalation
job moves it one step along the chain until someone acknowledges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import BadInput, IllegalTransition


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlarmStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True)
class AlarmSpec:
    """What a rule wants raised: the condition's key, who it concerns and what to say."""

    community_id: str
    kind: str  # device_offline | leak | door_denied | intrusion | bin_full | ...
    dedup_key: str
    severity: Severity
    title: str
    subject: str  # the thing, door, household … it is about
    detail: dict[str, Any] = field(default_factory=dict)
    resident_id: str | None = None  # a resident to tell (leak, intrusion), if any
    #: staff ids to ask in turn (escalation); empty: no acknowledgement deadline
    chain: tuple[str, ...] = ()
    ack_timeout_ms: int | None = None


@dataclass(frozen=True)
class Alarm:
    alarm_id: str
    community_id: str
    kind: str
    dedup_key: str
    severity: Severity
    status: AlarmStatus
    title: str
    subject: str
    detail: dict[str, Any]
    opened_at_ms: int
    updated_at_ms: int
    last_triggered_ms: int
    trigger_count: int = 1
    resident_id: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at_ms: int | None = None
    cleared_by: str | None = None
    cleared_at_ms: int | None = None
    chain: tuple[str, ...] = ()
    escalation_level: int = 0  # index into ``chain`` of the one asked now
    escalate_at_ms: int | None = None  # when the one asked now is out of time
    ack_timeout_ms: int | None = None
    version: int = 0

    @property
    def asked(self) -> str | None:
        """The staff member whose acknowledgement is awaited now."""
        if self.status is not AlarmStatus.OPEN or not self.chain:
            return None
        return self.chain[min(self.escalation_level, len(self.chain) - 1)]


def open_alarm(alarm_id: str, spec: AlarmSpec, now_ms: int) -> Alarm:
    escalate_at = now_ms + spec.ack_timeout_ms if spec.chain and spec.ack_timeout_ms else None
    return Alarm(alarm_id=alarm_id, community_id=spec.community_id, kind=spec.kind, dedup_key=spec.dedup_key,
                 severity=spec.severity, status=AlarmStatus.OPEN, title=spec.title, subject=spec.subject,
                 detail=dict(spec.detail), opened_at_ms=now_ms, updated_at_ms=now_ms, last_triggered_ms=now_ms,
                 resident_id=spec.resident_id, chain=spec.chain, escalate_at_ms=escalate_at,
                 ack_timeout_ms=spec.ack_timeout_ms)


def retriggered(alarm: Alarm, spec: AlarmSpec, now_ms: int) -> Alarm:
    """The condition happened again while the alarm is not cleared: count it, keep the latest detail;
    a worse severity raises the alarm's, an acknowledged alarm stays acknowledged."""
    severity = max(alarm.severity, spec.severity, key=list(Severity).index)
    return replace(alarm, trigger_count=alarm.trigger_count + 1, last_triggered_ms=max(now_ms, alarm.last_triggered_ms),
                   detail={**alarm.detail, **spec.detail}, severity=severity, updated_at_ms=now_ms,
                   version=alarm.version + 1)


def acknowledge(alarm: Alarm, by: str, now_ms: int) -> Alarm:
    if alarm.status is AlarmStatus.ACKNOWLEDGED:
        return alarm  # a second acknowledgement changes nothing
    if alarm.status is AlarmStatus.CLEARED:
        raise IllegalTransition("the alarm is cleared", current=alarm.status.value)
    return replace(alarm, status=AlarmStatus.ACKNOWLEDGED, acknowledged_by=by, acknowledged_at_ms=now_ms,
                   escalate_at_ms=None, updated_at_ms=now_ms, version=alarm.version + 1)


def clear(alarm: Alarm, by: str, now_ms: int) -> Alarm:
    if alarm.status is AlarmStatus.CLEARED:
        return alarm
    return replace(alarm, status=AlarmStatus.CLEARED, cleared_by=by, cleared_at_ms=now_ms, escalate_at_ms=None,
                   updated_at_ms=now_ms, version=alarm.version + 1)


def escalated(alarm: Alarm, now_ms: int) -> Alarm | None:
    """The one asked did not acknowledge in time: ask the next in the chain (the last one keeps being
    asked, again after each timeout). None when nothing is due."""
    if alarm.status is not AlarmStatus.OPEN or alarm.escalate_at_ms is None or alarm.escalate_at_ms > now_ms:
        return None
    timeout = alarm.ack_timeout_ms or 0
    level = min(alarm.escalation_level + 1, len(alarm.chain) - 1)
    return replace(alarm, escalation_level=level, escalate_at_ms=now_ms + timeout, updated_at_ms=now_ms,
                   version=alarm.version + 1)


def parse_status(raw: str | None) -> AlarmStatus | None:
    if raw is None:
        return None
    try:
        return AlarmStatus(raw)
    except ValueError as exc:
        raise BadInput("status is open, acknowledged or cleared", code="invalid_status") from exc
