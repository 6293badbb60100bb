"""The alarm model: one alarm per condition, acknowledgement, clearing, escalation along a chain."""

from __future__ import annotations

import pytest

from chalicelib.domain import alarms as rules
from chalicelib.domain.alarms import AlarmSpec, AlarmStatus, Severity
from chalicelib.domain.errors import IllegalTransition

T0 = 1_767_225_600_000
MIN = 60_000


def spec(severity: Severity = Severity.WARNING, **detail: object) -> AlarmSpec:
    return AlarmSpec(community_id="c_1", kind="intrusion", dedup_key="intrusion:3-502", severity=severity,
                     title="入侵报警", subject="3-502", detail=dict(detail), resident_id="r_1",
                     chain=("s_guard1", "s_guard2", "s_manager"), ack_timeout_ms=2 * MIN)


def test_a_retrigger_counts_keeps_the_latest_detail_and_only_raises_severity() -> None:
    alarm = rules.open_alarm("al_1", spec(sensor="door"), T0)
    again = rules.retriggered(alarm, spec(Severity.CRITICAL, sensor="hall"), T0 + 5)
    assert (again.trigger_count, again.detail, again.severity) == (2, {"sensor": "hall"}, Severity.CRITICAL)
    calmer = rules.retriggered(again, spec(Severity.INFO), T0 + 6)
    assert calmer.severity is Severity.CRITICAL and calmer.opened_at_ms == T0


def test_escalation_asks_each_in_turn_and_stops_at_an_acknowledgement() -> None:
    alarm = rules.open_alarm("al_1", spec(), T0)
    assert alarm.asked == "s_guard1" and alarm.escalate_at_ms == T0 + 2 * MIN
    assert rules.escalated(alarm, T0 + 2 * MIN - 1) is None
    second = rules.escalated(alarm, T0 + 2 * MIN)
    assert second is not None and second.asked == "s_guard2" and second.escalate_at_ms == T0 + 4 * MIN
    third = rules.escalated(second, T0 + 4 * MIN)
    assert third is not None and third.asked == "s_manager"
    # the last in the chain keeps being asked
    again = rules.escalated(third, T0 + 6 * MIN)
    assert again is not None and again.asked == "s_manager" and again.escalate_at_ms == T0 + 8 * MIN
    acked = rules.acknowledge(second, "staff:s_guard2", T0 + 3 * MIN)
    assert acked.status is AlarmStatus.ACKNOWLEDGED and acked.asked is None and acked.escalate_at_ms is None
    assert rules.escalated(acked, T0 + 10 * MIN) is None
    assert rules.acknowledge(acked, "staff:s_manager", T0 + 4 * MIN) is acked  # the first one counts


def test_clearing_ends_it_and_a_cleared_alarm_cannot_be_acknowledged() -> None:
    cleared = rules.clear(rules.open_alarm("al_1", spec(), T0), "staff:s_manager", T0 + 1)
    assert cleared.status is AlarmStatus.CLEARED and cleared.cleared_by == "staff:s_manager"
    assert rules.clear(cleared, "x", T0 + 2) is cleared
    with pytest.raises(IllegalTransition):
        rules.acknowledge(cleared, "staff:s_guard1", T0 + 3)


def test_an_alarm_without_a_chain_never_escalates() -> None:
    plain = AlarmSpec(community_id="c_1", kind="device_offline", dedup_key="offline:bin-1",
                      severity=Severity.WARNING, title="设备离线", subject="bin-1")
    alarm = rules.open_alarm("al_2", plain, T0)
    assert alarm.asked is None and rules.escalated(alarm, T0 + 60 * MIN) is None
