"""Door rules: refusal bursts counted by distinct event id in any window, visitor-pass windows and codes."""

from __future__ import annotations

import pytest

from chalicelib.domain import doors
from chalicelib.domain.doors import PassStatus, VisitorPass
from chalicelib.domain.errors import BadInput

WINDOW = 120_000
DAY = 24 * 3600 * 1000
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_five_refusals_within_the_window_are_a_burst() -> None:
    refusals = [(i * 20_000, f"e{i}") for i in range(5)]  # 0 … 80 s
    assert doors.denied_burst(refusals, 5, WINDOW)
    assert not doors.denied_burst(refusals[:4], 5, WINDOW)


def test_refusals_spread_wider_than_the_window_are_not() -> None:
    refusals = [(i * 40_000, f"e{i}") for i in range(5)]  # 0 … 160 s
    assert not doors.denied_burst(refusals, 5, WINDOW)


def test_a_resent_refusal_counts_once() -> None:
    refusals = [(0, "e0"), (1_000, "e1"), (2_000, "e2"), (3_000, "e3"), (3_000, "e3"), (3_500, "e3")]
    assert not doors.denied_burst(refusals, 5, WINDOW)


def test_a_late_refusal_can_complete_an_earlier_burst() -> None:
    late_arrival_order = [(300_000, "e9"), (10_000, "e1"), (20_000, "e2"), (30_000, "e3"), (40_000, "e4"),
                          (5_000, "e0")]
    assert doors.denied_burst(late_arrival_order, 5, WINDOW)


def visitor_pass(**changes: object) -> VisitorPass:
    fields: dict[str, object] = {"pass_id": "vp_1", "community_id": "c1", "resident_id": "r1", "building": "3",
                                 "room": "502", "code_hash": "h", "valid_from_ms": NOW, "valid_until_ms": NOW + DAY,
                                 "created_at_ms": NOW, **changes}
    return VisitorPass(**fields)  # type: ignore[arg-type]


def test_a_pass_opens_only_inside_its_window_and_until_revoked() -> None:
    p = visitor_pass()
    assert p.status(NOW - 1) is PassStatus.NOT_YET_VALID
    assert p.status(NOW) is PassStatus.VALID
    assert p.status(NOW + DAY) is PassStatus.EXPIRED
    assert visitor_pass(revoked_at_ms=NOW + 1).status(NOW + 2) is PassStatus.REVOKED


def test_the_window_defaults_to_now_and_lasts_at_most_seven_days() -> None:
    assert doors.pass_window(None, "2026-01-02T00:00:00Z", NOW) == (NOW, NOW + DAY)
    assert doors.pass_window("2026-01-01T08:00:00+08:00", "2026-01-08T08:00:00+08:00", NOW) == (NOW, NOW + 7 * DAY)
    with pytest.raises(BadInput):
        doors.pass_window(None, "2026-01-08T00:00:01Z", NOW)  # 7 days and a second
    with pytest.raises(BadInput):
        doors.pass_window(None, "2025-12-31T23:00:00Z", NOW)  # already over
    with pytest.raises(BadInput):
        doors.pass_window(None, "2026-01-02T00:00:00", NOW)  # no zone
    with pytest.raises(BadInput):
        doors.pass_window(None, "tomorrow", NOW)


def test_codes_are_stored_as_hashes_and_the_qr_carries_the_code() -> None:
    assert doors.hash_code("abc") == doors.hash_code("abc") != doors.hash_code("abd")
    assert "abc" not in doors.hash_code("abc")
    assert doors.qr_payload("abc").endswith("abc")


def test_visitor_names_and_doors_are_checked() -> None:
    assert doors.check_visitor_name("  王阿姨 ") == "王阿姨"
    assert doors.check_visitor_name(None) is None
    with pytest.raises(BadInput):
        doors.check_visitor_name("   ")
    with pytest.raises(BadInput):
        doors.check_door("x" * 65)
