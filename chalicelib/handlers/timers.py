"""Timers that must be on time (entry delays, alarm escalation) and the minute job behind them.

``fire_timers`` gets the timer queue's messages once their delay is over and hands each to the use case
that re-checks the state it finds (a disarm or an acknowledgement in between makes the timer a no-op).
Only the hub's own faults (DynamoDB, SQS, a malformed message) fail a record, so SQS redelivers it and,
after maxReceiveCount, dead-letters it. ``run_alarm_jobs`` is the backstop for a timer that was never
sent: every minute it escalates overdue alarms and ends overdue entry delays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.adapters.timer_queue import timer_of
from chalicelib.handlers.sqs_batch import drain
from chalicelib.observability import logger, metrics, tracer
from chalicelib.ports import Timer
from chalicelib.services import alarms, home_security
from chalicelib.services.deps import Deps

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

#: alarms / entry delays one minute-job run handles at most; the rest wait for the next run
JOB_LIMIT = 100

FIRES: dict[str, Callable[[Deps, Timer], str]] = {
    alarms.ESCALATION_TIMER: alarms.on_escalation_timer,
    home_security.ENTRY_TIMER: home_security.on_entry_timer,
}


def fire_record(record: SQSRecord) -> str:
    timer = timer_of(record.body)
    fire = FIRES.get(timer.kind)
    if fire is None:
        raise ValueError(f"unknown timer kind {timer.kind!r}")
    outcome = fire(bootstrap.deps(), timer)
    metrics.add_metric(name=f"Timers{outcome.title()}", unit=MetricUnit.Count, value=1)
    logger.info(f"timer {timer.kind} {dict(timer.subject)} due {timer.due_ms} -> {outcome}")
    return outcome


@tracer.capture_method
def fire_timers(event: Any) -> PartialItemFailureResponse:
    return drain(event, fire_record)


def run_alarm_jobs(event: Any) -> dict[str, int]:
    deps = bootstrap.deps()
    escalated = alarms.escalate_due(deps, JOB_LIMIT)
    triggered = home_security.fire_due_entries(deps, JOB_LIMIT)
    metrics.add_metric(name="AlarmsEscalatedByJob", unit=MetricUnit.Count, value=escalated)
    metrics.add_metric(name="EntryDelaysEndedByJob", unit=MetricUnit.Count, value=triggered)
    metrics.flush_metrics()
    logger.info(f"alarm jobs: {escalated} escalated, {triggered} entry delays ended")
    return {"escalated": escalated, "triggered": triggered}
