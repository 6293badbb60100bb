"""Who hears of what, and when: the audience table, quiet hours, subscribe-message grants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.errors import BadInput
from chalicelib.domain.notify import (
    MAX_HOLD_S,
    QuietHours,
    accepted_templates,
    audiences,
    hold_seconds,
    is_urgent,
    parse_quiet_hours,
)


def china(hour: int, minute: int = 0) -> int:
    """Epoch ms of 2026-03-10 at that time of day in China (UTC+8)."""
    return int(datetime(2026, 3, 10, hour, minute, tzinfo=UTC).timestamp() * 1000) - 8 * 3600 * 1000


NIGHT = QuietHours(22 * 60, 7 * 60)  # 22:00–07:00, across midnight
NAP = QuietHours(13 * 60, 14 * 60 + 30)  # 13:00–14:30, within a day


@pytest.mark.parametrize(("event_type", "data", "expected"), [
    ("recycling.credited", {}, ["resident"]),
    ("order.updated", {}, ["resident"]),
    ("order.offered", {"audience": "partner:p1"}, ["partner"]),
    ("order.withdrawn", {}, ["partner"]),
    ("order.escalated", {}, ["staff"]),
    ("partner.endpoint_disabled", {}, ["staff"]),
    ("task.opened", {"cleaners": ["s1"]}, ["staff"]),
    ("alarm.raised", {"resident_id": None}, ["staff"]),
    ("alarm.raised", {"resident_id": "r1"}, ["staff", "resident"]),
    ("alarm.escalated", {"resident_id": "r1"}, ["staff"]),  # the resident heard when it was raised
    ("notice.published", {}, ["tv", "resident"]),
    ("device.registered", {}, []),
    ("order.settled", {}, []),
])
def test_each_event_reaches_its_audiences(event_type: str, data: dict[str, object], expected: list[str]) -> None:
    assert [a.value for a in audiences(event_type, data)] == expected


@pytest.mark.parametrize(("now", "quiet", "wait_s"), [
    (china(23), NIGHT, 8 * 3600),  # before midnight: until 07:00 tomorrow
    (china(2, 30), NIGHT, 4 * 3600 + 1800),  # after midnight
    (china(22), NIGHT, 9 * 3600),  # the start is inside
    (china(7), NIGHT, 0),  # the end is not
    (china(12), NIGHT, 0),
    (china(13, 15), NAP, 3600 + 900),
    (china(15), NAP, 0),
    (china(23), None, 0),
])
def test_non_urgent_news_waits_until_quiet_hours_end(now: int, quiet: QuietHours | None, wait_s: int) -> None:
    assert hold_seconds(quiet, now) == wait_s


def test_a_hold_is_at_most_what_sqs_allows() -> None:
    almost_all_day = QuietHours(8 * 60, 7 * 60)  # 08:00 to 07:00 the next day
    assert hold_seconds(almost_all_day, china(8)) == MAX_HOLD_S == 12 * 3600


def test_alarms_and_urgent_severities_never_wait() -> None:
    assert is_urgent("alarm.raised", {"severity": "info"})
    assert is_urgent("order.escalated", {"severity": "critical"})
    assert not is_urgent("recycling.credited", {})
    assert not is_urgent("notice.published", {"severity": "info"})


def test_quiet_hours_are_read_as_china_time_hh_mm() -> None:
    assert parse_quiet_hours({"start": "22:00", "end": "07:00"}) == NIGHT
    assert parse_quiet_hours(None) is None
    assert NIGHT.view() == {"start": "22:00", "end": "07:00"}
    for bad in ({"start": "24:00", "end": "07:00"}, {"start": "22:00"}, {"start": "7:00", "end": "8:00"},
                {"start": "22:00", "end": "22:00"}, "22-07"):
        with pytest.raises(BadInput):
            parse_quiet_hours(bad)


def test_each_accept_is_one_allowance_and_nothing_else_is() -> None:
    grants = {"recycling-credited": "accept", "order-status": "reject", "security-alarm": "ban", "x": "filter"}
    assert accepted_templates(grants) == ["recycling-credited"]
    for bad in ({}, {"tpl": "maybe"}, {"bad id!": "accept"}, ["recycling-credited"]):
        with pytest.raises(BadInput):
            accepted_templates(bad)
