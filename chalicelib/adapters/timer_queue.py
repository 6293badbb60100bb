"""The timer queue (SQS ``linli-timers``): a timer is a message delayed until it is due.

SQS delays a message by at most 15 minutes and by whole seconds; a timer further away arrives early
and the handler schedules it again for the rest, a timer rounded up arrives up to a second late. The
handler re-checks the state it finds, so a timer that became pointless (a disarm, an acknowledged
alarm) fires as a no-op.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.sqs_sender import SQS_MAX_DELAY_S, SqsSender
from chalicelib.ports import Timer

#: the queue's name in infra/template.yaml (physical names carry no stage: one stage per account)
TIMER_QUEUE = "linli-timers"


def delay_s(due_ms: int, now_ms: int) -> int:
    """Whole seconds until ``due_ms``, rounded up (a timer must not fire before it is due), capped."""
    return max(0, min(-(-(due_ms - now_ms) // 1000), SQS_MAX_DELAY_S))


def timer_body(timer: Timer) -> str:
    return json.dumps({"kind": timer.kind, "due_ms": timer.due_ms, "subject": dict(timer.subject)},
                      separators=(",", ":"), sort_keys=True)


def timer_of(body: str) -> Timer:
    """The timer a queue message carries; ValueError for anything else."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError("not a timer message: not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("not a timer message")
    kind, due_ms, subject = data.get("kind"), data.get("due_ms"), data.get("subject")
    if not isinstance(kind, str) or not isinstance(due_ms, int) or not isinstance(subject, dict):
        raise ValueError("not a timer message")
    return Timer(kind=kind, subject=subject, due_ms=due_ms)


class SqsTimerQueue:
    def __init__(self, queue_name: str = TIMER_QUEUE, client: Any = None) -> None:
        self._sender = SqsSender(queue_name, client)

    def schedule(self, timer: Timer, now_ms: int) -> None:
        self._sender.send(timer_body(timer), delay_s(timer.due_ms, now_ms))
