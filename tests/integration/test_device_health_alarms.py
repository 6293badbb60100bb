"""Device health through the real schedule and device handlers over moto, on a controllable clock:
a device silent for 3 heartbeat intervals raises one device-offline alarm; its next message clears it."""

from __future__ import annotations

from typing import Any

import pytest

from app import app
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.security_models import offline_devices
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api
from tests.integration.test_api import api as api  # the fixture
from tests.support import events
from tests.support.fakes import FakeClock

T0 = 1_767_225_600_000
MINUTE = 60_000
SILENT_MS = 3 * 300 * 1000  # 3 × the default heartbeat interval (DESIGN §5)


@pytest.fixture
def clock(hub: Deps) -> FakeClock:
    hub.clock = FakeClock(T0)
    return hub.clock


@pytest.fixture
def cid(api: Api, clock: FakeClock) -> str:
    status, body, _ = api.admin("POST", "/v1/admin/communities", {"name": "Sunny Gardens"})
    assert status == 201, body
    cid = str(body["community_id"])
    for thing, kind in (("meter-1", "water_meter"), ("door-1", "door")):
        assert api.admin("POST", f"/v1/admin/communities/{cid}/devices", {"thing_name": thing, "type": kind,
                                                                           "location": "north gate"})[0] == 201
    return cid


def check() -> Any:
    return app.handler_map["check_device_health"](events.load("lambda/scheduled"), None)


def heartbeat(cid: str, thing: str, clock: FakeClock, event_id: str) -> None:
    now = clock.now_ms()
    payload = events.device_payload("heartbeat", event_id=event_id, ts=now)
    result = app.handler_map["handle_device_events"](
        events.sqs_device_event(payload, events.topic(cid, thing, "heartbeat"), thing, now), None)
    assert result == {"batchItemFailures": []}


def offline_alarms(api: Api, cid: str, status: str = "open") -> list[dict[str, Any]]:
    code, body, _ = api.admin("GET", f"/v1/admin/communities/{cid}/alarms?status={status}")
    assert code == 200, body
    return [a for a in body["items"] if a["kind"] == "device_offline"]


def test_a_silent_device_raises_one_offline_alarm_however_often_the_check_runs(api: Api, cid: str,
                                                                                clock: FakeClock) -> None:
    clock.advance(SILENT_MS - MINUTE)
    heartbeat(cid, "door-1", clock, "hb-1")  # the door keeps talking; the meter does not
    clock.advance(MINUTE)
    assert check() == {"total": 2, "silent": 0}  # exactly 3 intervals is not yet "longer than"
    assert offline_alarms(api, cid) == []
    clock.advance(1)
    assert check() == {"total": 2, "silent": 1}
    (alarm,) = offline_alarms(api, cid)
    assert alarm["subject"] == "meter-1" and alarm["severity"] == "warning"
    assert alarm["detail"]["location"] == "north gate"
    for n in range(3):
        clock.advance(5 * MINUTE)
        heartbeat(cid, "door-1", clock, f"hb-{n + 2}")
        assert check()["silent"] == 1
    (again,) = offline_alarms(api, cid)
    assert again["alarm_id"] == alarm["alarm_id"] and again["trigger_count"] == 1
    assert [i.gsi1sk for i in HubItem.by_gsi2.query(offline_devices(cid))] == ["meter-1"]


def test_a_message_from_the_device_clears_its_alarm_and_a_new_silence_alarms_again(api: Api, cid: str,
                                                                                    clock: FakeClock) -> None:
    clock.advance(SILENT_MS + 1)
    check()
    assert {a["subject"] for a in offline_alarms(api, cid)} == {"meter-1", "door-1"}
    heartbeat(cid, "meter-1", clock, "hb-back")
    heartbeat(cid, "meter-1", clock, "hb-back")  # redelivered: nothing more to do
    (cleared,) = offline_alarms(api, cid, "cleared")
    assert cleared["subject"] == "meter-1" and cleared["cleared_by"] == "rule:device_back_online"
    assert [a["subject"] for a in offline_alarms(api, cid)] == ["door-1"]
    clock.advance(SILENT_MS + 1)
    check()
    assert {a["subject"] for a in offline_alarms(api, cid)} == {"meter-1", "door-1"}
    assert len(offline_alarms(api, cid, "cleared")) == 1


def test_silence_follows_the_communitys_heartbeat_interval(api: Api, cid: str, clock: FakeClock) -> None:
    assert api.admin("PUT", f"/v1/admin/communities/{cid}/settings", {"heartbeat_interval_s": 60})[0] == 200
    clock.advance(3 * MINUTE + 1)
    assert check()["silent"] == 2
    assert len(offline_alarms(api, cid)) == 2


def test_a_disabled_device_never_alarms(api: Api, cid: str, clock: FakeClock) -> None:
    assert api.admin("POST", f"/v1/admin/communities/{cid}/devices/meter-1/disable")[0] == 200
    heartbeat(cid, "door-1", clock, "hb-1")
    clock.advance(SILENT_MS // 2)
    heartbeat(cid, "door-1", clock, "hb-2")
    clock.advance(SILENT_MS // 2 + 1)
    assert check() == {"total": 2, "silent": 0}
    assert offline_alarms(api, cid) == []
