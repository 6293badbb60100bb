"""Raising, acknowledging, clearing and escalating alarms.

Every change writes an outbox event in the same transaction — ``alarm.raised`` when an alarm opens,
``alarm.escalated`` when the next person in its chain is asked, ``alarm.acknowledged`` /
``alarm.cleared`` after — and the notification fan-out tells the right people from those events.
A re-trigger of an open alarm writes no event (nobody is paged twice for the same leak), unless it
raises the severity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain import alarms as rules
from chalicelib.domain.alarms import Alarm, AlarmSpec, AlarmStatus
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.identity import Principal
from chalicelib.ports import OutboxEvent, Page, SaveOutcome, Timer
from chalicelib.services.deps import Deps

MAX_RACES = 5
#: the timer that checks, when the one asked is out of time, whether to ask the next (handlers/timers.py)
ESCALATION_TIMER = "alarm_escalation"


def _event(alarm: Alarm, event_type: str, **extra: Any) -> OutboxEvent:
    data = {"alarm_id": alarm.alarm_id, "kind": alarm.kind, "severity": alarm.severity.value,
            "title": alarm.title, "subject": alarm.subject, "status": alarm.status.value,
            "resident_id": alarm.resident_id, "asked": alarm.asked, "detail": alarm.detail, **extra}
    return OutboxEvent(type=event_type, community_id=alarm.community_id, key=f"{alarm.alarm_id}#{alarm.version}",
                       data=data)


def raise_alarm(deps: Deps, spec: AlarmSpec) -> Alarm:
    """Open an alarm for the condition, or count another trigger of the one already open."""
    for _ in range(MAX_RACES):
        now = deps.clock.now_ms()
        current = deps.alarms.current(spec.community_id, spec.dedup_key)
        if current is None:
            alarm = rules.open_alarm(deps.ids.new_id("al"), spec, now)
            if deps.alarms.save(alarm, None, [_event(alarm, "alarm.raised")]) is SaveOutcome.SAVED:
                _schedule_escalation(deps, alarm)
                return alarm
            continue
        after = rules.retriggered(current, spec, now)
        worse = after.severity is not current.severity
        events = [_event(after, "alarm.raised", retrigger=True)] if worse else []
        if deps.alarms.save(after, current.version, events) is SaveOutcome.SAVED:
            return after
    raise Conflict("the alarm is changing too fast; try again", code="alarm_busy")


def _change(deps: Deps, alarm_id: str, community_id: str, decide: Callable[[Alarm], Alarm], event_type: str) -> Alarm:
    for _ in range(MAX_RACES):
        alarm = deps.alarms.get(alarm_id)
        if alarm is None or alarm.community_id != community_id:
            raise NotFound("alarm not found", code="alarm_not_found")
        after = decide(alarm)
        if after is alarm:
            return alarm
        if deps.alarms.save(after, alarm.version, [_event(after, event_type)]) is SaveOutcome.SAVED:
            return after
    raise Conflict("the alarm is changing too fast; try again", code="alarm_busy")


def acknowledge(deps: Deps, principal: Principal, community_id: str, alarm_id: str) -> Alarm:
    return _change(deps, alarm_id, community_id,
                   lambda a: rules.acknowledge(a, principal.actor, deps.clock.now_ms()), "alarm.acknowledged")


def clear(deps: Deps, principal: Principal | str, community_id: str, alarm_id: str) -> Alarm:
    """Staff clear an alarm (or a rule does, e.g. a bin emptied: ``principal`` is then the rule's name)."""
    by = principal if isinstance(principal, str) else principal.actor
    return _change(deps, alarm_id, community_id, lambda a: rules.clear(a, by, deps.clock.now_ms()), "alarm.cleared")


def clear_condition(deps: Deps, community_id: str, dedup_key: str, by: str) -> Alarm | None:
    """The condition is over (device back online, bin emptied): clear its alarm, if one is open."""
    current = deps.alarms.current(community_id, dedup_key)
    return None if current is None else clear(deps, by, community_id, current.alarm_id)


def list_alarms(deps: Deps, community_id: str, status: str | None, limit: int, cursor: str | None) -> Page[Alarm]:
    return deps.alarms.list_for_community(community_id, rules.parse_status(status), limit, cursor)


def escalate_due(deps: Deps, limit: int = 100) -> int:
    """The job: alarms whose asked person did not acknowledge in time ask the next one."""
    moved = 0
    for alarm in deps.alarms.due_escalations(deps.clock.now_ms(), limit):
        after = rules.escalated(alarm, deps.clock.now_ms())
        if after is not None and _save_escalation(deps, alarm, after):
            moved += 1
    return moved


def _save_escalation(deps: Deps, alarm: Alarm, after: Alarm) -> bool:
    """Ask the next one (conditional on the alarm's version) and time them; False: the alarm changed."""
    if deps.alarms.save(after, alarm.version, [_event(after, "alarm.escalated")]) is not SaveOutcome.SAVED:
        return False
    _schedule_escalation(deps, after)
    return True


def _schedule_escalation(deps: Deps, alarm: Alarm) -> None:
    """An alarm that waits for an acknowledgement gets a timer for the moment the one asked is out of
    time. Without a timer queue (unit tests) the minute job ``escalate_due`` alone moves it; if sending
    fails, the error propagates (the caller's input is retried) and the minute job is the backstop."""
    if alarm.escalate_at_ms is None or deps.timer_queue is None:
        return
    deps.timer_queue.schedule(Timer(ESCALATION_TIMER, {"alarm_id": alarm.alarm_id}, alarm.escalate_at_ms),
                              deps.clock.now_ms())


def on_escalation_timer(deps: Deps, timer: Timer) -> str:
    """The escalation timer fired: ask the next in the chain if the alarm is still open and this timer
    is still its deadline (an acknowledgement, a clear or an earlier escalation make it stale)."""
    for _ in range(MAX_RACES):
        alarm = deps.alarms.get(str(timer.subject.get("alarm_id")))
        if alarm is None or alarm.status is not AlarmStatus.OPEN or alarm.escalate_at_ms != timer.due_ms:
            return "stale"
        now = deps.clock.now_ms()
        after = rules.escalated(alarm, now)
        if after is None:  # early: the queue could not delay it that long
            _schedule_escalation(deps, alarm)
            return "early"
        if _save_escalation(deps, alarm, after):
            return "escalated"
    raise Conflict("the alarm is changing too fast; try again", code="alarm_busy")
