"""Home security (家庭安防): a household's away mode, as Home Assistant's manual alarm panel works.

Arming starts the *exit delay* (state ``arming``: the resident is still leaving); after it the home is
``armed_away``. A motion or door-open from the household's panel while armed starts the *entry delay*
(``pending``: the resident coming home has that long to disarm); not disarmed in time, the home is
``triggered`` and an intrusion alarm goes to the resident and the guards on duty.

Everything is judged by when the sensor saw it (the message's time), never by when the hub got round to
it: delivery is at least once and unordered, so a motion from before the arming, or from inside the
exit delay, never counts however late it arrives. The delays are the community's settings at the
moment of arming, kept with the arming, so a timer that fires later judges by the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from chalicelib.domain.alarms import AlarmSpec, Severity
from chalicelib.domain.errors import BadInput
from chalicelib.domain.staff import StaffMember, StaffRole

#: sensor states that may mean someone is inside; ``closed`` never triggers
TRIGGERING_STATES = frozenset({"motion", "open"})


class SecurityMode(StrEnum):
    """What the resident asked for."""

    DISARMED = "disarmed"
    ARMED_AWAY = "armed_away"


class PanelState(StrEnum):
    """Where the panel is now (Home Assistant's names)."""

    DISARMED = "disarmed"
    ARMING = "arming"
    ARMED_AWAY = "armed_away"
    PENDING = "pending"
    TRIGGERED = "triggered"


class Sensed(StrEnum):
    """What one sensor report did."""

    IGNORED = "ignored"  # closed, disarmed, before the arming or inside the exit delay
    ENTRY_DELAY_STARTED = "entry_delay_started"
    ALREADY_PENDING = "already_pending"  # the entry delay runs already (its start stays the first one's)
    ALREADY_TRIGGERED = "already_triggered"  # the intrusion alarm is out; staff handle it


@dataclass(frozen=True)
class HomeSecurity:
    community_id: str
    household: str  # "{building}-{room}"
    mode: SecurityMode = SecurityMode.DISARMED
    armed_at_ms: int | None = None
    armed_by: str | None = None  # the resident who armed it: the one the intrusion alarm tells
    exit_delay_ms: int = 0
    entry_delay_ms: int = 0
    pending_since_ms: int | None = None  # when the sensor saw what started the entry delay
    trigger: dict[str, Any] | None = None  # that report: thing, event id, sensor, state
    triggered_at_ms: int | None = None
    updated_at_ms: int = 0
    version: int = 0

    @property
    def entry_deadline_ms(self) -> int | None:
        """When the entry delay ends, while one runs."""
        if self.pending_since_ms is None or self.triggered_at_ms is not None:
            return None
        return self.pending_since_ms + self.entry_delay_ms

    def state(self, now_ms: int) -> PanelState:
        if self.mode is SecurityMode.DISARMED or self.armed_at_ms is None:
            return PanelState.DISARMED
        if self.triggered_at_ms is not None:
            return PanelState.TRIGGERED
        if self.pending_since_ms is not None:
            return PanelState.PENDING
        if now_ms < self.armed_at_ms + self.exit_delay_ms:
            return PanelState.ARMING
        return PanelState.ARMED_AWAY


def parse_mode(raw: object) -> SecurityMode:
    try:
        return SecurityMode(str(raw))
    except ValueError as exc:
        raise BadInput("mode is armed_away or disarmed", code="invalid_mode") from exc


def arm(home: HomeSecurity, resident_id: str, now_ms: int, exit_delay_s: int, entry_delay_s: int) -> HomeSecurity:
    """Arm away; arming an armed home changes nothing (the exit delay does not start again)."""
    if home.mode is SecurityMode.ARMED_AWAY:
        return home
    return replace(home, mode=SecurityMode.ARMED_AWAY, armed_at_ms=now_ms, armed_by=resident_id,
                   exit_delay_ms=exit_delay_s * 1000, entry_delay_ms=entry_delay_s * 1000, pending_since_ms=None,
                   trigger=None, triggered_at_ms=None, updated_at_ms=now_ms, version=home.version + 1)


def disarm(home: HomeSecurity, now_ms: int) -> HomeSecurity:
    """Disarm: a running entry delay ends without an alarm (an alarm already raised stays for staff)."""
    if home.mode is SecurityMode.DISARMED:
        return home
    return HomeSecurity(community_id=home.community_id, household=home.household, updated_at_ms=now_ms,
                        version=home.version + 1)


def sensed(home: HomeSecurity, sensor_state: str, seen_at_ms: int, trigger: dict[str, Any],
           now_ms: int) -> tuple[Sensed, HomeSecurity]:
    """A sensor report seen at ``seen_at_ms``: does it start the entry delay?"""
    if sensor_state not in TRIGGERING_STATES or home.mode is not SecurityMode.ARMED_AWAY or home.armed_at_ms is None:
        return Sensed.IGNORED, home
    if seen_at_ms < home.armed_at_ms + home.exit_delay_ms:  # before the arming, or while leaving
        return Sensed.IGNORED, home
    if home.triggered_at_ms is not None:
        return Sensed.ALREADY_TRIGGERED, home
    if home.pending_since_ms is not None:
        if seen_at_ms >= home.pending_since_ms:
            return Sensed.ALREADY_PENDING, home
        # an earlier report arrived late: the entry delay started when that one was seen
        return Sensed.ALREADY_PENDING, replace(home, pending_since_ms=seen_at_ms, trigger=dict(trigger),
                                               updated_at_ms=now_ms, version=home.version + 1)
    return Sensed.ENTRY_DELAY_STARTED, replace(home, pending_since_ms=seen_at_ms, trigger=dict(trigger),
                                               updated_at_ms=now_ms, version=home.version + 1)


def entry_delay_over(home: HomeSecurity, armed_at_ms: int, now_ms: int) -> bool:
    """The entry delay of *this* arming ran out without a disarm (a timer of an earlier arming is stale)."""
    deadline = home.entry_deadline_ms
    return (home.mode is SecurityMode.ARMED_AWAY and home.armed_at_ms == armed_at_ms and deadline is not None
            and deadline <= now_ms)


def triggered(home: HomeSecurity, now_ms: int) -> HomeSecurity:
    return replace(home, triggered_at_ms=now_ms, updated_at_ms=now_ms, version=home.version + 1)


def guard_chain(staff: list[StaffMember]) -> tuple[str, ...]:
    """Whom an intrusion asks, in turn: the guards (longest-serving first), then the manager(s)."""
    def of(role: StaffRole) -> list[str]:
        return [m.staff_id for m in sorted(staff, key=lambda m: (m.created_at_ms, m.staff_id)) if m.role is role]

    return tuple(of(StaffRole.GUARD) + of(StaffRole.MANAGER))


def intrusion_alarm(home: HomeSecurity, chain: tuple[str, ...], guard_ack_timeout_s: int) -> AlarmSpec:
    return AlarmSpec(
        community_id=home.community_id, kind="intrusion", dedup_key=f"intrusion:{home.household}",
        severity=Severity.CRITICAL, title=f"{home.household} 入侵报警 (intrusion while away)",
        subject=home.household, resident_id=home.armed_by, chain=chain,
        ack_timeout_ms=guard_ack_timeout_s * 1000 if chain else None,
        detail={"household": home.household, "armed_by": home.armed_by, "armed_at_ms": home.armed_at_ms,
                "seen_at_ms": home.pending_since_ms, **(home.trigger or {})})
