"""Meter rules: readings in any order give the same hourly usage; impossible readings are refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from chalicelib.domain import meters
from chalicelib.domain.meters import MeterWindow, Placement
from chalicelib.domain.recycling import CommunitySettings
from chalicelib.domain.rejects import Rejected, RejectReason

LIMIT = meters.max_per_hour_milli("m3", CommunitySettings())  # 5 m3 per hour


def china(day: int, hour: int, minute: int = 0) -> int:
    """Epoch ms of 2026-01-{day} {hour}:{minute} China time."""
    return int(datetime(2026, 1, day, hour, minute, tzinfo=UTC).timestamp() * 1000) - 8 * 3_600_000


def apply(readings: list[tuple[int, float, str]]) -> tuple[MeterWindow, dict[tuple[str, int], int]]:
    window, totals = MeterWindow(), dict[tuple[str, int], int]()
    for ts, value, event_id in readings:
        placed: Placement = meters.place(window, event_id, ts, meters.to_milli(value), LIMIT)
        window = placed.window
        for key, milli in placed.changes.items():
            totals[key] = totals.get(key, 0) + milli
    return window, {k: v for k, v in totals.items() if v}


READINGS = [(china(1, 7), 100.0, "a"), (china(1, 8), 100.2, "b"), (china(1, 9, 30), 100.25, "c"),
            (china(1, 10), 100.4, "d")]


def test_usage_between_readings_lands_in_the_hour_the_later_reading_closes() -> None:
    _, totals = apply(READINGS)
    # 07:00→08:00 closes hour 7; 08:00→09:30 and 09:30→10:00 both close in hour 9
    assert totals == {("20260101", 7): 200, ("20260101", 9): 200}


def test_every_arrival_order_gives_the_same_hours() -> None:
    _, expected = apply(READINGS)
    for order in itertools.permutations(READINGS):
        assert apply(list(order))[1] == expected


def test_decimal_readings_are_exact_litres() -> None:
    assert meters.to_milli(1234.567) == 1_234_567
    assert meters.to_milli(0.1) + meters.to_milli(0.2) == meters.to_milli(0.3)


def test_a_duplicate_changes_nothing() -> None:
    window, _ = apply(READINGS)
    again = meters.place(window, "b", china(1, 8), meters.to_milli(100.2), LIMIT)
    assert again.duplicate and again.changes == {} and again.window == window


@pytest.mark.parametrize(("ts", "value", "reason"), [
    (china(1, 11), 99.0, RejectReason.METER_WENT_BACKWARDS),  # rollover / swapped meter
    (china(1, 8, 30), 100.3, RejectReason.METER_WENT_BACKWARDS),  # above the later 09:30 reading
    (china(1, 11), 107.0, RejectReason.METER_JUMP),  # 6.6 m3 in an hour
])
def test_impossible_readings_are_refused_and_change_nothing(ts: int, value: float, reason: RejectReason) -> None:
    window, _ = apply(READINGS)
    with pytest.raises(Rejected) as refused:
        meters.place(window, "x", ts, meters.to_milli(value), LIMIT)
    assert refused.value.reason is reason


def test_a_long_gap_allows_proportionally_more() -> None:
    window, _ = apply([(china(1, 0), 10.0, "a")])
    placed = meters.place(window, "b", china(1, 10), meters.to_milli(55.0), LIMIT)  # 45 m3 in 10 h
    assert sum(placed.changes.values()) == 45_000


def test_water_in_every_hour_from_one_to_five_is_a_leak_of_that_night() -> None:
    night = [(china(2, h), 10 + h / 100, f"n{h}") for h in range(0, 6)]  # 10 L every hour 00:00–05:00
    window, totals = apply(night)
    assert meters.leak_night(window, totals) == "20260102"


def test_a_dry_hour_in_the_night_is_no_leak() -> None:
    night = [(china(2, 0), 10.0, "a"), (china(2, 1), 10.01, "b"), (china(2, 2), 10.02, "c"),
             (china(2, 3), 10.02, "d"), (china(2, 4), 10.03, "e"), (china(2, 5), 10.04, "f")]
    window, totals = apply(night)
    assert meters.leak_night(window, totals) is None


def test_old_readings_leave_the_window_and_one_older_still_is_refused() -> None:
    window, _ = apply([(china(1, 0), 1.0, "a"), (china(3, 12), 2.0, "b")])  # 60 h apart: "a" dropped
    assert [p.event_id for p in window.points] == ["b"]
    with pytest.raises(Rejected) as refused:
        meters.place(window, "c", china(3, 1), 1_500, LIMIT)
    assert refused.value.reason is RejectReason.METER_OUT_OF_WINDOW


@pytest.mark.parametrize(("raw", "days"), [(None, 30), ("1", 1), ("90", 90)])
def test_days_parameter(raw: str | None, days: int) -> None:
    assert meters.parse_days(raw) == days


@pytest.mark.parametrize("raw", ["0", "91", "x", "-1"])
def test_days_out_of_range_is_bad_input(raw: str) -> None:
    from chalicelib.domain.errors import BadInput

    with pytest.raises(BadInput):
        meters.parse_days(raw)
