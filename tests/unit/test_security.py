"""Away-mode rules (domain/security.py) and the timer queue's arithmetic, without AWS."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.sqs_sender import SQS_MAX_DELAY_S
from chalicelib.adapters.timer_queue import SqsTimerQueue, delay_s, timer_body, timer_of
from chalicelib.domain import security as rules
from chalicelib.domain.errors import BadInput
from chalicelib.domain.security import HomeSecurity, PanelState, SecurityMode, Sensed
from chalicelib.domain.staff import StaffMember, StaffRole
from chalicelib.ports import Timer

T0 = 1_767_225_600_000
EXIT_S = ENTRY_S = 60
TRIGGER = {"thing_name": "panel-1", "event_id": "e-1", "sensor": "pir", "state": "motion"}


def armed(at: int = T0) -> HomeSecurity:
    return rules.arm(HomeSecurity("c1", "3-502"), "r_1", at, EXIT_S, ENTRY_S)


def test_the_panel_moves_through_home_assistants_states() -> None:
    home = armed()
    assert home.state(T0) is PanelState.ARMING
    assert home.state(T0 + 59_999) is PanelState.ARMING
    assert home.state(T0 + 60_000) is PanelState.ARMED_AWAY
    outcome, pending = rules.sensed(home, "motion", T0 + 70_000, TRIGGER, T0 + 70_500)
    assert outcome is Sensed.ENTRY_DELAY_STARTED and pending.state(T0 + 70_500) is PanelState.PENDING
    assert pending.entry_deadline_ms == T0 + 130_000
    assert not rules.entry_delay_over(pending, T0, T0 + 129_999)
    assert rules.entry_delay_over(pending, T0, T0 + 130_000)
    assert not rules.entry_delay_over(pending, T0 - 1, T0 + 130_000)  # a timer of another arming
    done = rules.triggered(pending, T0 + 130_000)
    assert done.state(T0 + 130_000) is PanelState.TRIGGERED and done.entry_deadline_ms is None
    assert rules.disarm(done, T0 + 200_000).state(T0 + 200_000) is PanelState.DISARMED


@pytest.mark.parametrize(("state", "seen_at"), [("closed", T0 + 90_000), ("motion", T0 + 59_999),
                                                ("open", T0 - 1)])
def test_closed_the_exit_delay_and_reports_from_before_the_arming_never_trigger(state: str, seen_at: int) -> None:
    home = armed()
    assert rules.sensed(home, state, seen_at, TRIGGER, T0 + 100_000) == (Sensed.IGNORED, home)


def test_a_disarmed_home_ignores_motion() -> None:
    home = HomeSecurity("c1", "3-502")
    assert rules.sensed(home, "motion", T0, TRIGGER, T0) == (Sensed.IGNORED, home)


def test_repeats_keep_the_first_report_and_an_earlier_one_moves_the_start_back() -> None:
    _, pending = rules.sensed(armed(), "motion", T0 + 80_000, TRIGGER, T0 + 80_000)
    assert rules.sensed(pending, "motion", T0 + 90_000, TRIGGER, T0 + 90_000) == (Sensed.ALREADY_PENDING, pending)
    outcome, earlier = rules.sensed(pending, "open", T0 + 70_000, TRIGGER, T0 + 90_000)
    assert outcome is Sensed.ALREADY_PENDING and earlier.pending_since_ms == T0 + 70_000
    done = rules.triggered(earlier, T0 + 130_000)
    assert rules.sensed(done, "motion", T0 + 140_000, TRIGGER, T0 + 140_000) == (Sensed.ALREADY_TRIGGERED, done)


def test_arming_twice_keeps_the_first_arming_and_disarming_twice_changes_nothing() -> None:
    home = armed()
    assert rules.arm(home, "r_2", T0 + 5_000, EXIT_S, ENTRY_S) is home
    disarmed = rules.disarm(home, T0 + 6_000)
    assert disarmed.mode is SecurityMode.DISARMED and disarmed.version == home.version + 1
    assert rules.disarm(disarmed, T0 + 7_000) is disarmed


def test_the_guard_chain_is_guards_by_seniority_then_the_manager() -> None:
    staff = [StaffMember("m", "c1", "M", StaffRole.MANAGER, 1), StaffMember("g2", "c1", "G2", StaffRole.GUARD, 3),
             StaffMember("g1", "c1", "G1", StaffRole.GUARD, 2), StaffMember("cl", "c1", "C", StaffRole.CLEANER, 0)]
    assert rules.guard_chain(staff) == ("g1", "g2", "m")


def test_the_intrusion_alarm_names_the_household_the_resident_and_the_deadline() -> None:
    _, pending = rules.sensed(armed(), "motion", T0 + 80_000, TRIGGER, T0 + 80_000)
    spec = rules.intrusion_alarm(pending, ("g1", "m"), 120)
    assert (spec.kind, spec.dedup_key, spec.severity.value) == ("intrusion", "intrusion:3-502", "critical")
    assert spec.resident_id == "r_1" and spec.chain == ("g1", "m") and spec.ack_timeout_ms == 120_000
    assert rules.intrusion_alarm(pending, (), 120).ack_timeout_ms is None  # nobody to ask: no deadline


def test_a_bad_mode_is_bad_input() -> None:
    with pytest.raises(BadInput):
        rules.parse_mode("armed_home")


@pytest.mark.parametrize(("due", "now", "expected"), [(T0, T0, 0), (T0 - 5_000, T0, 0), (T0 + 1, T0, 1),
                                                      (T0 + 2_000, T0, 2), (T0 + 3_600_000, T0, SQS_MAX_DELAY_S)])
def test_a_timer_is_never_delivered_before_it_is_due_and_never_delayed_past_what_sqs_allows(
        due: int, now: int, expected: int) -> None:
    assert delay_s(due, now) == expected


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def test_the_timer_queue_sends_the_timer_with_its_delay() -> None:
    sqs = FakeSqs()
    timer = Timer("entry_delay", {"community_id": "c1", "household": "3-502", "armed_at_ms": T0}, T0 + 60_000)
    SqsTimerQueue(client=sqs).schedule(timer, T0 + 1_500)
    (sent,) = sqs.sent
    assert sent["QueueUrl"].endswith("/linli-timers") and sent["DelaySeconds"] == 59
    assert timer_of(sent["MessageBody"]) == timer


@pytest.mark.parametrize("body", ["[]", "{}", '{"kind": "x", "due_ms": "soon", "subject": {}}', "nope"])
def test_a_message_that_is_not_a_timer_is_refused(body: str) -> None:
    with pytest.raises(ValueError, match="not a timer"):
        timer_of(body)


def test_a_timer_survives_the_round_trip() -> None:
    timer = Timer("alarm_escalation", {"alarm_id": "al_1"}, T0)
    assert timer_of(timer_body(timer)) == timer
