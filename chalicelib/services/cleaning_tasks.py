"""Cleaning tasks from trash-bin fill readings, and staff closing or listing them.

``task.opened`` carries the community's cleaners (staff ids) so the notification fan-out can tell them;
``task.closed`` carries how long emptying took. Both are written in the transaction that changes the
bin, so a task never opens without its alert.
"""

from __future__ import annotations

from chalicelib.domain import bins as rules
from chalicelib.domain.bins import BinState, CleaningTask, FillAction, TaskStatus
from chalicelib.domain.device_messages import DeviceMessage, Fill
from chalicelib.domain.devices import Device
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.identity import Principal
from chalicelib.domain.staff import StaffRole
from chalicelib.ports import BinWrite, OutboxEvent, Page, SaveOutcome
from chalicelib.services.cached_settings import community_settings
from chalicelib.services.deps import Deps

MAX_RACES = 5
CLOSED_BY_BIN = "bin"


def _opened_event(task: CleaningTask, cleaners: list[str]) -> OutboxEvent:
    return OutboxEvent(type="task.opened", community_id=task.community_id, key=task.task_id,
                       data={"task_id": task.task_id, "kind": task.kind, "thing_name": task.thing_name,
                             "location": task.location, "fill_pct": task.fill_pct,
                             "opened_at_ms": task.opened_at_ms, "cleaners": cleaners})


def _closed_event(task: CleaningTask) -> OutboxEvent:
    return OutboxEvent(type="task.closed", community_id=task.community_id, key=task.task_id,
                       data={"task_id": task.task_id, "kind": task.kind, "thing_name": task.thing_name,
                             "location": task.location, "closed_by": task.closed_by,
                             "time_to_empty_s": task.time_to_empty_s})


def cleaners_of(deps: Deps, community_id: str) -> list[str]:
    return [m.staff_id for m in deps.staff.list_for_community(community_id) if m.role is StaffRole.CLEANER]


def _fill_write(deps: Deps, state: BinState, message: DeviceMessage, device: Device, fill_pct: float,
                action: FillAction) -> BinWrite:
    ts, event_id, now = message.ts_ms, message.event_id, deps.clock.now_ms()
    if action is FillAction.OPEN:
        task = rules.open_task(deps.ids.new_id("task"), state, device.location, ts, fill_pct)
        return BinWrite(rules.applied(state, event_id, ts, fill_pct, task.task_id), state.version, opened=task,
                        events=[_opened_event(task, cleaners_of(deps, state.community_id))], at_ms=now)
    if action is FillAction.CLOSE and state.open_task_id is not None:
        current = deps.tasks.get_task(state.open_task_id)
        after = rules.applied(state, event_id, ts, fill_pct, None)
        if current is None or current.status is not TaskStatus.OPEN:
            return BinWrite(after, state.version, at_ms=now)
        closed = rules.close_task(current, ts, CLOSED_BY_BIN, fill_pct)
        return BinWrite(after, state.version, closed=closed, events=[_closed_event(closed)], at_ms=now)
    return BinWrite(rules.applied(state, event_id, ts, fill_pct, state.open_task_id), state.version, at_ms=now)


def apply_fill(deps: Deps, message: DeviceMessage, device: Device) -> None:
    """The ``fill`` effect: open, close or just note — idempotent by (thing, event id) and by ``ts``."""
    reading = message.reading
    assert isinstance(reading, Fill)
    alert_pct = community_settings(deps, message.community_id).fill_alert_pct
    for _ in range(MAX_RACES):
        state = deps.tasks.bin_state(message.thing_name, message.community_id)
        action = rules.decide_fill(state, message.event_id, message.ts_ms, reading.fill_pct, alert_pct)
        if action is FillAction.IGNORE:
            return
        if deps.tasks.save(_fill_write(deps, state, message, device, reading.fill_pct, action)) is SaveOutcome.SAVED:
            return
    raise Conflict("the bin is changing too fast; try again", code="bin_busy")


def _community_task(deps: Deps, community_id: str, task_id: str) -> CleaningTask:
    task = deps.tasks.get_task(task_id)
    if task is None or task.community_id != community_id:
        raise NotFound("task not found", code="task_not_found")
    return task


def close_by_hand(deps: Deps, principal: Principal, community_id: str, task_id: str) -> CleaningTask:
    """Staff say the bin is done (its sensor may be broken). Closing a closed task changes nothing."""
    for _ in range(MAX_RACES):
        task = _community_task(deps, community_id, task_id)
        if task.status is TaskStatus.CLOSED:
            return task
        now = deps.clock.now_ms()
        closed = rules.close_task(task, now, principal.actor)
        state = deps.tasks.bin_state(task.thing_name, community_id)
        after = rules.task_closed_by_hand(state, task_id)
        write = BinWrite(after, state.version, closed=closed, events=[_closed_event(closed)], at_ms=now)
        if deps.tasks.save(write) is SaveOutcome.SAVED:
            return closed
    raise Conflict("the task is changing too fast; try again", code="task_busy")


def list_tasks(deps: Deps, community_id: str, status: str | None, limit: int,
               cursor: str | None) -> Page[CleaningTask]:
    """Newest first; open tasks unless ``status=closed`` is asked for."""
    return deps.tasks.list_tasks(community_id, rules.parse_status(status) or TaskStatus.OPEN, limit, cursor)
