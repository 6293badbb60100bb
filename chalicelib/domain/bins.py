"""Trash bins (垃圾桶) and the cleaning tasks they cause.

A bin reports how full it is (``fill`` messages). At or above the community's ``fill_alert_pct`` the
bin needs emptying: one cleaning task opens — one per bin, however many messages say "full" — and the
cleaners on duty are told. When the fill drops clearly below the threshold the bin was emptied: the
task closes and records how long emptying took.

Hysteresis: "clearly below" is ``fill_alert_pct − EMPTIED_MARGIN_PCT`` (90 % → below 70 %; never below half
the threshold, see ``emptied_below``). A bin's
sensor wobbles by a few percent as bags settle or the lid moves; without the margin a bin hovering at
the threshold would close and reopen a task with every reading.

Messages arrive at least once and in any order, so a bin remembers the ``ts`` (and event id) of the
last reading it applied: an older reading changes nothing, the same one again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from chalicelib.domain.errors import BadInput

#: an emptied bin reads this many percentage points below the alert threshold (see the docstring)
EMPTIED_MARGIN_PCT = 20
TASK_KIND_CLEANING = "cleaning"


class TaskStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class BinState:
    """What the hub remembers of one bin between readings."""

    thing_name: str
    community_id: str
    last_ts_ms: int = -1
    last_event_id: str | None = None
    last_fill_pct: float | None = None
    open_task_id: str | None = None
    version: int = 0  # 0: never stored


@dataclass(frozen=True)
class CleaningTask:
    task_id: str
    community_id: str
    thing_name: str
    location: str | None
    status: TaskStatus
    opened_at_ms: int
    fill_pct: float  # the reading that opened it
    closed_at_ms: int | None = None
    closed_by: str | None = None  # "bin" (emptied) or the staff member who closed it by hand
    emptied_fill_pct: float | None = None
    kind: str = TASK_KIND_CLEANING

    @property
    def time_to_empty_s(self) -> int | None:
        if self.closed_at_ms is None:
            return None
        return max(0, self.closed_at_ms - self.opened_at_ms) // 1000


class FillAction(StrEnum):
    OPEN = "open"  # open a task
    CLOSE = "close"  # the bin was emptied: close its task
    NOTE = "note"  # remember the reading, nothing else changes
    IGNORE = "ignore"  # older than (or the same as) what was applied: change nothing


def decide_fill(state: BinState, event_id: str, ts_ms: int, fill_pct: float, alert_pct: int) -> FillAction:
    """What one reading means for the bin, judged by its own timestamp, not by when it arrived."""
    if ts_ms < state.last_ts_ms or (ts_ms == state.last_ts_ms and event_id == state.last_event_id):
        return FillAction.IGNORE
    if state.open_task_id is None and fill_pct >= alert_pct:
        return FillAction.OPEN
    if state.open_task_id is not None and fill_pct < emptied_below(alert_pct):
        return FillAction.CLOSE
    return FillAction.NOTE


def emptied_below(alert_pct: int) -> float:
    """The fill under which a full bin counts as emptied: the margin below the threshold, but never more
    than half of it (a community alerting at 15 % would otherwise never see its bins emptied)."""
    return max(alert_pct - EMPTIED_MARGIN_PCT, alert_pct / 2)


def applied(state: BinState, event_id: str, ts_ms: int, fill_pct: float, open_task_id: str | None) -> BinState:
    return replace(state, last_ts_ms=ts_ms, last_event_id=event_id, last_fill_pct=fill_pct,
                   open_task_id=open_task_id, version=state.version + 1)


def task_closed_by_hand(state: BinState, task_id: str) -> BinState:
    """Staff closed the bin's task: the next reading at or above the threshold opens a new one."""
    still_open = None if state.open_task_id == task_id else state.open_task_id
    return replace(state, open_task_id=still_open, version=state.version + 1)


def open_task(task_id: str, state: BinState, location: str | None, ts_ms: int, fill_pct: float) -> CleaningTask:
    return CleaningTask(task_id=task_id, community_id=state.community_id, thing_name=state.thing_name,
                        location=location, status=TaskStatus.OPEN, opened_at_ms=ts_ms, fill_pct=fill_pct)


def close_task(task: CleaningTask, at_ms: int, by: str, emptied_fill_pct: float | None = None) -> CleaningTask:
    """Closed at ``at_ms`` (the emptying reading's ts, or now when staff close it by hand)."""
    return replace(task, status=TaskStatus.CLOSED, closed_at_ms=max(at_ms, task.opened_at_ms), closed_by=by,
                   emptied_fill_pct=emptied_fill_pct)


def parse_status(raw: str | None) -> TaskStatus | None:
    if raw is None:
        return None
    try:
        return TaskStatus(raw)
    except ValueError as exc:
        raise BadInput("status is open or closed", code="invalid_status") from exc
