"""Doors through the real device handler and the API over moto: access log, refusal alarm, visitor passes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import app
from chalicelib.adapters.dynamo.doors_models import AccessEntryItem
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.system import SystemClock
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api, login
from tests.integration.test_api import api as api  # the fixture
from tests.support import events

DOOR = "building-3-east"  # the sample's door (events/devices/access.json)
SECOND = 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class OffsetClock:
    """The hub's clock, moved forward by hand."""

    offset_ms: int = 0

    def now_ms(self) -> int:
        return SystemClock().now_ms() + self.offset_ms


class Gate:
    """A community with a door device, a guard and a resident living in building 3."""

    def __init__(self, api: Api, name: str) -> None:
        self.api = api
        status, body, _ = api.admin("POST", "/v1/admin/communities", {"name": name})
        assert status == 201
        self.cid = str(body["community_id"])
        self.base = f"/v1/admin/communities/{self.cid}"
        self.thing = f"door-{self.cid[-8:]}"
        assert api.admin("POST", self.base + "/devices", {"thing_name": self.thing, "type": "door",
                                                          "location": "east gate"})[0] == 201
        self.guard = self.staff("guard")
        self.start = now_ms() - 30 * 60 * SECOND

    def staff(self, role: str) -> str:
        status, body, _ = self.api.admin("POST", self.base + "/staff", {"name": f"a {role}", "role": role})
        assert status == 201
        return str(body["token"])

    def access(self, result: str, at_s: int, event_id: str | None = None, door: str = DOOR) -> None:
        payload = events.device_payload("access", event_id=event_id or f"acc-{result}-{at_s}", result=result,
                                        door=door, ts=self.start + at_s * SECOND)
        event = events.sqs_device_event(payload, events.topic(self.cid, self.thing, "access"), self.thing, now_ms())
        assert app.handler_map["handle_device_events"](event, None) == {"batchItemFailures": []}

    def log(self, door: str = DOOR, token: str | None = None) -> list[dict[str, Any]]:
        status, body, _ = self.api("GET", f"{self.base}/doors/{door}/access", token=token or self.guard)
        assert status == 200, body
        return list(body["items"])

    def alarms(self) -> list[dict[str, Any]]:
        status, body, _ = self.api("GET", f"{self.base}/alarms?status=open", token=self.guard)
        assert status == 200
        return [a for a in body["items"] if a["kind"] == "door_denied"]

    def resident(self, openid: str, building: str = "3") -> str:
        token, _ = login(self.api, openid)
        assert self.api("PUT", "/v1/me/residence", {"community_id": self.cid, "building": building, "room": "502"},
                        token=token)[0] == 200
        return token

    def door_token(self, thing: str | None = None) -> str:
        status, body, _ = self.api.admin("POST", f"{self.base}/devices/{thing or self.thing}/credentials")
        assert status == 201, body
        return str(body["token"])


@pytest.fixture
def gate(hub: Deps, api: Api) -> Gate:
    return Gate(api, "Sunny Gardens")


def test_every_access_is_logged_per_door_newest_first_for_90_days(gate: Gate) -> None:
    gate.access("granted", 0)
    gate.access("denied", 10)
    gate.access("granted", 20, door="garage")
    log = gate.log()
    assert [(e["result"], e["method"], e["thing_name"]) for e in log] == [("denied", "face", gate.thing),
                                                                       ("granted", "face", gate.thing)]
    assert [e["door"] for e in gate.log("garage")] == ["garage"]
    for item in AccessEntryItem.scan():
        assert item.expires_at == int(item.ts_ms) // 1000 + 90 * 24 * 3600


def test_only_guards_and_managers_of_the_community_read_the_log(gate: Gate, api: Api) -> None:
    gate.access("granted", 0)
    assert len(gate.log(token=gate.staff("manager"))) == 1
    assert api("GET", f"{gate.base}/doors/{DOOR}/access", token=gate.staff("cleaner"))[0] == 403
    other = Gate(api, "Other Gardens")
    assert api("GET", f"{gate.base}/doors/{DOOR}/access", token=other.guard)[0] == 403


def test_five_refusals_in_two_minutes_raise_one_alarm(gate: Gate) -> None:
    for i in range(4):
        gate.access("denied", i * 25)
    assert gate.alarms() == []
    gate.access("denied", 100)
    [alarm] = gate.alarms()
    assert alarm["severity"] == "warning" and alarm["subject"] == DOOR and alarm["trigger_count"] == 1
    gate.access("denied", 110)  # still at it: the same alarm, counted again
    [again] = gate.alarms()
    assert again["alarm_id"] == alarm["alarm_id"] and again["trigger_count"] == 2


def test_refusals_spread_out_or_resent_do_not_alarm(gate: Gate) -> None:
    for i in range(5):
        gate.access("denied", i * 40)  # 5 in 160 s
    for _ in range(5):
        gate.access("denied", 1000, event_id="same-refusal")  # one refusal, resent
    gate.access("denied", 1001, event_id="same-refusal")  # resent with a new ts: still one refusal
    assert gate.alarms() == []


def test_a_late_refusal_completes_a_burst(gate: Gate) -> None:
    for at in (10, 20, 30, 40):
        gate.access("denied", at)
    gate.access("granted", 50)
    gate.access("denied", 5)  # sent first, arrives last
    assert len(gate.alarms()) == 1


def test_the_limit_and_window_are_community_settings(gate: Gate) -> None:
    tighter = {"door_denied_limit": 3, "door_denied_window_s": 30}
    assert gate.api.admin("PUT", gate.base + "/settings", tighter)[0] == 200
    for at in (0, 20, 40):
        gate.access("denied", at)  # 3 within 40 s: not within 30 s
    assert gate.alarms() == []
    gate.access("denied", 45)
    assert len(gate.alarms()) == 1


# ------------------------------------------------------------------------------------------ visitor passes


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def new_pass(gate: Gate, token: str, hours: float = 4, **extra: Any) -> dict[str, Any]:
    status, body, _ = gate.api("POST", "/v1/me/visitor-passes", {"valid_until": iso(timedelta(hours=hours)),
                                                                 **extra}, token=token)
    assert status == 201, body
    return dict(body)


def test_a_resident_invites_a_visitor_and_the_door_lets_them_in(gate: Gate, api: Api) -> None:
    resident = gate.resident("wx-visitor-host")
    made = new_pass(gate, resident, visitor_name="王阿姨")
    assert len(made["code"]) >= 22 and made["qr_payload"].endswith(made["code"])  # ≥ 128 bits
    assert made["status"] == "valid" and made["visitor_name"] == "王阿姨"
    assert made["code"] not in json.dumps([i.attribute_values for i in HubItem.scan()], default=str)
    door = gate.door_token()
    status, body, _ = api("GET", f"/v1/devices/doors/passes/{made['code']}", token=door)
    assert status == 200, body
    assert body["valid"] is True and body["pass_id"] == made["pass_id"] and body["building"] == "3"
    assert body["valid_until"] == made["valid_until"]
    [entry] = gate.log("east gate")  # logged at the door device's location
    assert (entry["method"], entry["result"], entry["pass_id"]) == ("qr", "granted", made["pass_id"])
    [listed] = api("GET", "/v1/me/visitor-passes", token=resident)[1]["items"]
    assert listed["pass_id"] == made["pass_id"] and listed["uses"] == 1 and "code" not in listed


def test_revoked_expired_unknown_and_early_passes_do_not_open(gate: Gate, api: Api, hub: Deps) -> None:
    clock = OffsetClock()
    hub.clock = clock
    resident = gate.resident("wx-host-2")
    door = gate.door_token()
    revoked = new_pass(gate, resident)
    status, body, _ = api("DELETE", f"/v1/me/visitor-passes/{revoked['pass_id']}", token=resident)
    assert status == 200 and body["status"] == "revoked"
    assert api("GET", f"/v1/devices/doors/passes/{revoked['code']}", token=door)[:2][0] == 410
    assert api("GET", "/v1/devices/doors/passes/not-a-code", token=door)[0] == 404
    later = new_pass(gate, resident, hours=30, valid_from=iso(timedelta(hours=24)))
    assert api("GET", f"/v1/devices/doors/passes/{later['code']}", token=door)[0] == 422
    short = new_pass(gate, resident, hours=1)
    clock.offset_ms = 2 * 3600 * SECOND
    status, body, _ = api("GET", f"/v1/devices/doors/passes/{short['code']}", token=door)
    assert (status, body["error"]["code"]) == (410, "pass_gone")
    assert gate.log("east gate") == []


def test_only_a_door_of_the_passs_community_may_check_it(gate: Gate, api: Api) -> None:
    made = new_pass(gate, gate.resident("wx-host-3"))
    other = Gate(api, "Other Gardens")
    assert api("GET", f"/v1/devices/doors/passes/{made['code']}", token=other.door_token())[0] == 404
    assert api("GET", f"/v1/devices/doors/passes/{made['code']}", token=gate.guard)[0] == 403
    assert api("GET", f"/v1/devices/doors/passes/{made['code']}")[0] == 401
    assert api.admin("POST", f"{gate.base}/devices", {"thing_name": "bin-x1", "type": "trash_bin"})[0] == 201
    assert api.admin("POST", f"{gate.base}/devices/bin-x1/credentials")[0] == 400
    assert api("POST", f"{gate.base}/devices/{gate.thing}/credentials", token=other.staff("manager"))[0] == 403
    assert api("POST", f"{gate.base}/devices/{gate.thing}/credentials", token=gate.guard)[0] == 403
    door = gate.door_token()
    assert api.admin("POST", f"{gate.base}/devices/{gate.thing}/disable")[0] == 200
    assert api("GET", f"/v1/devices/doors/passes/{made['code']}", token=door)[0] == 403


def test_passes_are_the_residents_own_and_bounded(gate: Gate, api: Api) -> None:
    host = gate.resident("wx-host-4")
    made = new_pass(gate, host)
    neighbour = gate.resident("wx-neighbour")
    assert api("GET", "/v1/me/visitor-passes", token=neighbour)[1]["items"] == []
    assert api("DELETE", f"/v1/me/visitor-passes/{made['pass_id']}", token=neighbour)[0] == 404
    week = {"valid_until": iso(timedelta(days=7, minutes=1))}
    assert api("POST", "/v1/me/visitor-passes", week, token=host)[0] == 400
    homeless, _ = login(api, "wx-no-residence")
    status, body, _ = api("POST", "/v1/me/visitor-passes", {"valid_until": iso(timedelta(hours=1))}, token=homeless)
    assert (status, body["error"]["code"]) == (422, "no_residence")
