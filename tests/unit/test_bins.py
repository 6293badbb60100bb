"""Trash-bin rules: one task per full bin, hysteresis on emptying, readings judged by their own ts."""

from __future__ import annotations

import pytest

from chalicelib.domain import bins
from chalicelib.domain.bins import BinState, FillAction, TaskStatus
from chalicelib.domain.errors import BadInput

ALERT = 90


def state(**changes: object) -> BinState:
    return BinState(thing_name="trash-1", community_id="c1", **changes)  # type: ignore[arg-type]


def test_a_reading_at_the_threshold_opens_a_task_and_below_it_does_not() -> None:
    assert bins.decide_fill(state(), "e1", 1_000, 90, ALERT) is FillAction.OPEN
    assert bins.decide_fill(state(), "e1", 1_000, 89.9, ALERT) is FillAction.NOTE


def test_a_full_bin_with_an_open_task_opens_no_second_one() -> None:
    full = state(last_ts_ms=1_000, last_event_id="e1", open_task_id="task_1", version=1)
    assert bins.decide_fill(full, "e2", 2_000, 100, ALERT) is FillAction.NOTE


def test_emptying_needs_the_margin_below_the_threshold() -> None:
    full = state(last_ts_ms=1_000, last_event_id="e1", open_task_id="task_1", version=1)
    wobble = ALERT - bins.EMPTIED_MARGIN_PCT
    assert bins.decide_fill(full, "e2", 2_000, wobble, ALERT) is FillAction.NOTE  # 70 %: just settled
    assert bins.decide_fill(full, "e2", 2_000, wobble - 0.5, ALERT) is FillAction.CLOSE
    assert bins.decide_fill(full, "e2", 2_000, 10, ALERT) is FillAction.CLOSE


def test_an_older_or_repeated_reading_changes_nothing() -> None:
    emptied = state(last_ts_ms=5_000, last_event_id="e5", version=3)
    assert bins.decide_fill(emptied, "e3", 3_000, 99, ALERT) is FillAction.IGNORE  # late "full"
    assert bins.decide_fill(emptied, "e5", 5_000, 99, ALERT) is FillAction.IGNORE  # redelivered
    assert bins.decide_fill(emptied, "e6", 5_000, 99, ALERT) is FillAction.OPEN  # same ms, other event


def test_a_low_threshold_still_lets_a_bin_be_emptied() -> None:
    full = state(last_ts_ms=1_000, open_task_id="task_1", version=1)
    assert bins.emptied_below(90) == 70
    assert bins.decide_fill(full, "e2", 2_000, 5, 15) is FillAction.CLOSE
    assert bins.decide_fill(full, "e2", 2_000, 8, 15) is FillAction.NOTE


def test_the_threshold_is_the_communitys() -> None:
    assert bins.decide_fill(state(), "e1", 1_000, 75, 75) is FillAction.OPEN
    assert bins.decide_fill(state(), "e1", 1_000, 75, 80) is FillAction.NOTE


def test_time_to_empty_is_from_opening_reading_to_emptying_reading() -> None:
    full = state(last_ts_ms=1_000, version=1)
    task = bins.open_task("task_1", full, "north gate", 1_000, 95)
    assert task.status is TaskStatus.OPEN and task.time_to_empty_s is None
    closed = bins.close_task(task, 1_000 + 42 * 60_000, "bin", 8)
    assert closed.status is TaskStatus.CLOSED
    assert closed.time_to_empty_s == 42 * 60
    assert bins.close_task(task, 500, "bin").time_to_empty_s == 0  # never negative


def test_applying_a_reading_remembers_it_and_bumps_the_version() -> None:
    after = bins.applied(state(version=2), "e9", 9_000, 40, None)
    assert (after.last_ts_ms, after.last_event_id, after.last_fill_pct, after.version) == (9_000, "e9", 40, 3)


def test_closing_by_hand_frees_the_bin_for_a_new_task() -> None:
    full = state(last_ts_ms=1_000, open_task_id="task_1", version=4)
    after = bins.task_closed_by_hand(full, "task_1")
    assert after.open_task_id is None and after.version == 5
    assert bins.decide_fill(after, "e2", 2_000, 95, ALERT) is FillAction.OPEN
    assert bins.task_closed_by_hand(full, "task_other").open_task_id == "task_1"


def test_status_filter_is_open_or_closed() -> None:
    assert bins.parse_status("closed") is TaskStatus.CLOSED
    assert bins.parse_status(None) is None
    with pytest.raises(BadInput):
        bins.parse_status("done")
