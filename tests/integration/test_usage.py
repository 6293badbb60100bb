"""Meters through the real device handler over moto: usage per household and day, rejects, the leak alarm,
and who may see which household's usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import app
from chalicelib.domain.alarms import AlarmStatus
from chalicelib.domain.recycling import china_day
from chalicelib.services import communities
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api, login
from tests.integration.test_api import api as api  # the fixture
from tests.support import events

WATER, POWER = "water-3-502", "power-3-502"
CHINA = timedelta(hours=8)


def yesterday(hour: int, minute: int = 0) -> int:
    """Epoch ms of yesterday (China) at hour:minute China time."""
    today = (datetime.now(UTC) + CHINA).date()
    at = datetime(today.year, today.month, today.day, hour, minute, tzinfo=UTC) - timedelta(days=1) - CHINA
    return int(at.timestamp() * 1000)


def send(cid: str, thing: str, event_id: str, ts: int, reading: float, unit: str = "m3") -> Any:
    payload = events.device_payload("meter", event_id=event_id, ts=ts, reading=reading, unit=unit)
    event = events.sqs_device_event(payload, events.topic(cid, thing, "meter"), thing, ts + 1_000)
    return app.handler_map["handle_device_events"](event, None)


@pytest.fixture
def cid(hub: Deps) -> str:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, WATER, "water_meter", building="3", room="502")
    communities.register_device(hub, cid, POWER, "electricity_meter", building="3", room="502")
    return cid


def resident(api: Api, cid: str, openid: str, building: str = "3", room: str = "502") -> str:
    token, _ = login(api, openid)
    status, _, _ = api("PUT", "/v1/me/residence", {"community_id": cid, "building": building, "room": room},
                       token=token)
    assert status == 200
    return token


def staff(api: Api, cid: str, role: str) -> str:
    status, body, _ = api.admin("POST", f"/v1/admin/communities/{cid}/staff", {"name": f"a {role}", "role": role})
    assert status == 201, body
    return str(body["token"])


def usage(api: Api, token: str, days: int = 2) -> list[dict[str, Any]]:
    status, body, _ = api("GET", f"/v1/me/usage?days={days}", token=token)
    assert status == 200, body
    return list(body["items"])


def reasons(hub: Deps, cid: str) -> list[str]:
    return [r.reason.value for r in hub.rejects.list_for_community(cid, 100, None).items]


def test_readings_in_any_order_and_repeated_become_the_days_usage(hub: Deps, api: Api, cid: str) -> None:
    token = resident(api, cid, "o-usage")
    base = events.load("devices/meter")["reading"]  # 1234.567 m3
    send(cid, WATER, "w3", yesterday(10), base + 0.5)  # out of order: the last reading first
    send(cid, WATER, "w1", yesterday(8), base)
    send(cid, WATER, "w2", yesterday(9), base + 0.12)
    send(cid, WATER, "w2", yesterday(9), base + 0.12)  # redelivered
    send(cid, POWER, "p1", yesterday(8), 5000.0, "kWh")
    send(cid, POWER, "p2", yesterday(20), 5003.25, "kWh")

    day = china_day(yesterday(12))
    assert usage(api, token) == [{"date": f"{day[:4]}-{day[4:6]}-{day[6:]}", "water_l": 500, "electricity_wh": 3250}]
    assert reasons(hub, cid) == []


def test_a_meter_going_backwards_or_jumping_is_a_reject_not_usage(hub: Deps, api: Api, cid: str) -> None:
    token = resident(api, cid, "o-rejects")
    send(cid, WATER, "a", yesterday(8), 100.0)
    send(cid, WATER, "b", yesterday(9), 100.3)
    send(cid, WATER, "swap", yesterday(10), 3.0)  # a new meter starts low
    send(cid, WATER, "burst", yesterday(11), 160.0)  # 59.7 m3 in an hour
    send(cid, WATER, "kwh", yesterday(12), 100.4, "kWh")  # a water meter does not measure kWh

    assert sorted(reasons(hub, cid)) == ["implausible_value", "meter_jump", "meter_went_backwards"]
    assert [d["water_l"] for d in usage(api, token)] == [300]


def test_a_common_area_meter_is_checked_but_counts_for_no_household(hub: Deps, api: Api, cid: str) -> None:
    token = resident(api, cid, "o-common")
    communities.register_device(hub, cid, "water-lobby", "water_meter")
    send(cid, "water-lobby", "x", yesterday(8), 1.0)
    send(cid, "water-lobby", "y", yesterday(9), 1.5)
    send(cid, "water-lobby", "z", yesterday(10), 0.5)
    assert reasons(hub, cid) == ["meter_went_backwards"]
    assert usage(api, token) == []


def test_water_running_all_night_raises_one_leak_alarm_to_the_resident(hub: Deps, api: Api, cid: str) -> None:
    resident(api, cid, "o-elsewhere", room="501")
    token = resident(api, cid, "o-leak")
    rid = api("GET", "/v1/me", token=token)[1]["resident_id"]
    for hour in range(0, 6):  # a little water every hour 00:00–05:00
        send(cid, WATER, f"n{hour}", yesterday(hour, 30), 200 + hour * 0.01)
    send(cid, WATER, "n5", yesterday(5, 30), 200.05)  # redelivered
    send(cid, WATER, "n6", yesterday(6, 30), 200.06)

    [alarm] = hub.alarms.list_for_community(cid, AlarmStatus.OPEN, 10, None).items
    assert (alarm.kind, alarm.severity.value, alarm.resident_id) == ("leak", "critical", rid)
    assert alarm.dedup_key == f"leak:3-502:{china_day(yesterday(3))}"


def test_no_leak_when_one_night_hour_is_dry(hub: Deps, api: Api, cid: str) -> None:
    resident(api, cid, "o-dry")
    for hour, value in enumerate([1.0, 1.01, 1.02, 1.02, 1.03, 1.04]):  # 02:30–03:30 used nothing
        send(cid, WATER, f"d{hour}", yesterday(hour, 30), value)
    assert hub.alarms.list_for_community(cid, AlarmStatus.OPEN, 10, None).items == []


def test_who_sees_which_households_usage(hub: Deps, api: Api, cid: str) -> None:
    mine = resident(api, cid, "o-mine")
    neighbour = resident(api, cid, "o-neighbour", room="503")
    send(cid, WATER, "a", yesterday(8), 1.0)
    send(cid, WATER, "b", yesterday(9), 1.2)
    assert [d["water_l"] for d in usage(api, mine)] == [200]
    assert usage(api, neighbour) == []  # another household's meter is not theirs

    nowhere, _ = login(api, "o-nowhere")
    assert api("GET", "/v1/me/usage", token=nowhere)[0] == 400
    assert api("GET", "/v1/me/usage?days=91", token=mine)[0] == 400

    path = f"/v1/admin/communities/{cid}/usage?building=3&room=502&days=2"
    status, body, _ = api("GET", path, token=staff(api, cid, "manager"))
    assert status == 200 and [d["water_l"] for d in body["items"]] == [200]
    assert api("GET", path, token=staff(api, cid, "guard"))[0] == 403
    other = communities.create_community(hub, "Elsewhere").community_id
    assert api("GET", path, token=staff(api, other, "manager"))[0] == 403
    assert api("GET", path, token=mine)[0] == 403
    assert api("GET", f"/v1/admin/communities/{cid}/usage?building=3", token=staff(api, cid, "manager"))[0] == 400
