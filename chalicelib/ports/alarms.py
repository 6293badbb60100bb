"""What needs a person: alarms, away mode and its timers, device health, bins and their tasks, doors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.domain.alarms import Alarm, AlarmStatus
from chalicelib.domain.bins import BinState, CleaningTask, TaskStatus
from chalicelib.domain.devices import Device
from chalicelib.domain.doors import AccessEntry, VisitorPass
from chalicelib.domain.security import HomeSecurity
from chalicelib.ports.core import (
    OutboxEvent,
    Page,
    SaveOutcome,
)


class AlarmBook(Protocol):
    """Alarms, with at most one not-cleared alarm per (community, dedup key)."""

    def current(self, community_id: str, dedup_key: str) -> Alarm | None:
        """The alarm for this condition that is not cleared yet, if any."""

    def save(self, alarm: Alarm, expected_version: int | None, events: Sequence[OutboxEvent]) -> SaveOutcome:
        """New alarm (``expected_version`` None): CONFLICT if one for its dedup key is open meanwhile.
        Otherwise conditional on the version; clearing frees the dedup key."""

    def get(self, alarm_id: str) -> Alarm | None: ...
    def list_for_community(self, community_id: str, status: AlarmStatus | None, limit: int,
                           cursor: str | None) -> Page[Alarm]: ...
    def due_escalations(self, now_ms: int, limit: int) -> list[Alarm]: ...


@dataclass(frozen=True)
class BinWrite:
    """A bin's new state and the task it opens or closes, written in one transaction."""

    state: BinState
    expected_version: int  # 0: the bin has no stored state yet
    opened: CleaningTask | None = None
    closed: CleaningTask | None = None
    events: Sequence[OutboxEvent] = ()
    at_ms: int = 0  # when the change happens (the outbox events' time)


class CleaningTaskBook(Protocol):
    """Bins' last applied readings and their cleaning tasks; at most one open task per bin."""

    def bin_state(self, thing_name: str, community_id: str) -> BinState:
        """The stored state, or a fresh one (version 0) for a bin never heard from."""

    def save(self, write: BinWrite) -> SaveOutcome:
        """CONFLICT if the bin's state moved meanwhile, a second task would open or the task is closed."""

    def get_task(self, task_id: str) -> CleaningTask | None: ...
    def last_fills(self, thing_names: Sequence[str]) -> dict[str, float]:
        """The last applied fill (percent) of each of these bins that has reported one."""

    def list_tasks(self, community_id: str, status: TaskStatus, limit: int,
                   cursor: str | None) -> Page[CleaningTask]: ...


# ---------------------------------------------------------------------------------------------- doors
class DoorBook(Protocol):
    """Door access logs (kept 90 days) and residents' visitor passes."""

    def log_access(self, entry: AccessEntry) -> None:
        """Idempotent: the same (door, ts, thing, event id) is one entry."""

    def access_log(self, community_id: str, door: str, limit: int, cursor: str | None) -> Page[AccessEntry]:
        """Newest first."""

    def refusals(self, community_id: str, door: str, from_ms: int, to_ms: int) -> list[tuple[int, str]]:
        """(ts, event id) of the door's denied entries with from_ms ≤ ts ≤ to_ms."""

    def add_pass(self, visitor_pass: VisitorPass) -> None: ...
    def get_pass(self, pass_id: str) -> VisitorPass | None: ...
    def pass_by_code(self, code_hash: str) -> VisitorPass | None: ...
    def passes_of(self, resident_id: str, limit: int, cursor: str | None) -> Page[VisitorPass]:
        """Newest first."""

    def revoke_pass(self, pass_id: str, at_ms: int) -> None: ...
    def pass_used(self, pass_id: str, entry: AccessEntry) -> None:
        """Count one use of the pass and log it at its door, in one transaction."""


# ------------------------------------------------------------------- home security, timers, device health


class HomeSecurityBook(Protocol):
    """A household's away mode, one item per (community, household)."""

    def get(self, community_id: str, household: str) -> HomeSecurity | None: ...

    def save(self, home: HomeSecurity, expected_version: int | None) -> SaveOutcome:
        """New (``expected_version`` None) or conditional on the version; CONFLICT if it changed meanwhile."""

    def due_entries(self, now_ms: int, limit: int) -> list[HomeSecurity]:
        """Homes whose entry delay ended at or before ``now_ms`` and that are not triggered yet."""


@dataclass(frozen=True)
class Timer:
    """Something to re-check at ``due_ms``: the firing handler judges the state it finds then."""

    kind: str  # alarm_escalation | entry_delay
    subject: Mapping[str, Any]
    due_ms: int


class TimerQueue(Protocol):
    def schedule(self, timer: Timer, now_ms: int) -> None:
        """Deliver the timer at ``due_ms``, or earlier when that is further away than the queue can
        delay (the handler then schedules it again for the rest)."""


class DeviceHealthFlags(Protocol):
    """Marks on a device's own item, so accepting its messages needs no extra read to know whether a
    device-offline alarm is open (``Device.offline_alarm``)."""

    def mark_offline_alarm(self, device: Device) -> None: ...
    def clear_offline_alarm(self, thing_name: str) -> None: ...
