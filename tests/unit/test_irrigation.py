"""Irrigation rules: when a zone is watered, and when it is not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain import irrigation
from chalicelib.domain.errors import BadInput
from chalicelib.domain.irrigation import Rules, Verdict, WaterCommand, Zone
from chalicelib.domain.recycling import CommunitySettings

SETTINGS = CommunitySettings()  # threshold 27 %, hysteresis 5, quiet 11–16, 600 s, rest 6 h
ZONE = Zone(community_id="c1", zone="lawn")
RULES = Rules.for_zone(ZONE, SETTINGS)


def china(hour: int, minute: int = 0, day: int = 10) -> int:
    return int(datetime(2026, 6, day, hour, minute, tzinfo=UTC).timestamp() * 1000) - 8 * 3_600_000


def watered(zone: Zone, at_ms: int) -> Zone:
    command = WaterCommand("wc_1", zone.zone, "irr-1", 600, at_ms, 20.0, "irr-1/e1")
    return replace(zone, last_command=command)


def test_dry_soil_in_the_morning_is_watered_and_the_zone_then_rests() -> None:
    verdict, after = irrigation.decide(ZONE, RULES, 23.4, china(7))
    assert verdict is Verdict.WATER
    assert after.resting and after.last_moisture_pct == 23.4


@pytest.mark.parametrize(("hour", "verdict"), [(10, Verdict.WATER), (11, Verdict.HOT_HOURS),
                                               (15, Verdict.HOT_HOURS), (16, Verdict.WATER)])
def test_not_in_the_hottest_hours(hour: int, verdict: Verdict) -> None:
    assert irrigation.decide(ZONE, RULES, 20, china(hour, 30))[0] is verdict


def test_at_or_above_the_threshold_nothing_happens() -> None:
    assert irrigation.decide(ZONE, RULES, 27, china(7))[0] is Verdict.WET_ENOUGH


def test_a_skip_day_is_not_watered() -> None:
    zone = replace(ZONE, skip_days=("2026-06-10",))
    assert irrigation.decide(zone, RULES, 20, china(7))[0] is Verdict.SKIP_DAY
    assert irrigation.decide(zone, RULES, 20, china(7, day=11))[0] is Verdict.WATER


def test_hysteresis_no_second_run_until_the_soil_came_back_well_above_the_threshold() -> None:
    _, zone = irrigation.decide(ZONE, RULES, 20, china(6))
    zone = watered(zone, china(6))
    assert irrigation.decide(zone, RULES, 25, china(6, 20))[0] is Verdict.RESTING
    _, zone = irrigation.decide(zone, RULES, 30, china(7))  # above 27 but not 27 + 5: still resting
    assert zone.resting
    assert irrigation.decide(zone, RULES, 26, china(8))[0] is Verdict.RESTING
    _, zone = irrigation.decide(zone, RULES, 33, china(9))  # above 32: ready again
    assert not zone.resting
    assert irrigation.decide(zone, RULES, 26, china(10))[0] is Verdict.WATER


def test_after_the_minimum_interval_a_still_dry_zone_is_watered_again() -> None:
    _, zone = irrigation.decide(ZONE, RULES, 20, china(1))
    zone = watered(zone, china(1))
    assert irrigation.decide(zone, RULES, 20, china(6, 59))[0] is Verdict.RESTING
    assert irrigation.decide(zone, RULES, 20, china(7, 1))[0] is Verdict.WATER


def test_a_reading_older_than_one_seen_decides_nothing() -> None:
    _, zone = irrigation.decide(ZONE, RULES, 40, china(8))
    verdict, after = irrigation.decide(zone, RULES, 10, china(7))
    assert verdict is Verdict.STALE and after == zone


def test_a_zone_threshold_overrides_the_community() -> None:
    zone = replace(ZONE, moisture_pct=15)
    assert irrigation.decide(zone, Rules.for_zone(zone, SETTINGS), 20, china(7))[0] is Verdict.WET_ENOUGH


def test_a_quiet_window_may_wrap_midnight() -> None:
    rules = replace(RULES, quiet_start_h=22, quiet_end_h=6)
    assert rules.quiet_at(china(23)) and rules.quiet_at(china(5)) and not rules.quiet_at(china(7))


@pytest.mark.parametrize("raw", ["2026-13-01", "tomorrow", 20260101, "2026-1-1"])
def test_bad_skip_days(raw: object) -> None:
    with pytest.raises(BadInput):
        irrigation.parse_skip_days([raw])


def test_skip_days_are_sorted_and_unique() -> None:
    assert irrigation.parse_skip_days(["2026-06-02", "2026-06-01", "2026-06-02"]) == ("2026-06-01", "2026-06-02")
