"""What the staff console reads, through the API over moto: the page itself, who a token is, the open
withdrawals and the day's recycling of a community, and devices at a glance — and that staff of another
community (or the wrong role) are refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.services.deps import Deps
from tests.integration.test_api import ROOT, Api, assert_error, login
from tests.integration.test_api import api as api  # the fixture
from tests.support import events
from tests.support.money_fakes import FakeWeChatPay

COMMUNITIES = "/v1/admin/communities"
BIN, TRASH = "rbin-0001", "trash-0001"
PHONE = "13800138000"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Community:
    def __init__(self, api: Api, name: str, suffix: str) -> None:
        self.api = api
        status, body, _ = api.admin("POST", COMMUNITIES, {"name": name})
        assert status == 201
        self.cid = str(body["community_id"])
        self.base = f"{COMMUNITIES}/{self.cid}"
        self.bin, self.trash = f"{BIN}-{suffix}", f"{TRASH}-{suffix}"
        for thing, kind in ((self.bin, "recycling_bin"), (self.trash, "trash_bin")):
            assert api.admin("POST", self.base + "/devices", {"thing_name": thing, "type": kind,
                                                              "location": "north gate"})[0] == 201
        assert api.admin("PUT", self.base + "/recycling-prices", {"prices": {"paper": 80, "metal": 200}})[0] == 200
        self.manager = self.staff("manager")

    def staff(self, role: str) -> str:
        status, body, _ = self.api.admin("POST", self.base + "/staff", {"name": f"Li {role}", "role": role})
        assert status == 201, body
        return str(body["token"])

    def publish(self, thing: str, kind: str, **fields: Any) -> None:
        payload = events.device_payload(kind, ts=now_ms() - 1000, **fields)
        event = events.sqs_device_event(payload, events.topic(self.cid, thing, kind), thing, now_ms())
        assert app.handler_map["handle_device_events"](event, None) == {"batchItemFailures": []}

    def get(self, path: str, token: str | None = None) -> Any:
        status, body, _ = self.api("GET", self.base + path, token=token or self.manager)
        assert status == 200, body
        return body


@pytest.fixture
def sunny(api: Api) -> Community:
    return Community(api, "Sunny Gardens", "s")


@pytest.fixture
def other(api: Api) -> Community:
    return Community(api, "Moon Court", "m")


def test_the_console_page_and_its_assets_come_from_the_hub_under_a_strict_policy(hub: Deps) -> None:
    with Client(app, project_dir=str(ROOT)) as client:
        page = client.http.get("/console")
        assets = {path: client.http.get(path) for path in ("/console/console.js", "/console/console.css")}
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in policy and "*" not in policy and "unsafe" not in policy
    html = page.body.decode()
    assert '<html lang="zh-CN">' in html and 'src="console/console.js"' in html and "://" not in html
    assert assets["/console/console.js"].headers["Content-Type"].startswith("text/javascript")
    assert assets["/console/console.css"].headers["Content-Type"].startswith("text/css")
    assert all(a.status_code == 200 and b"://" not in a.body.replace(b"http://www.w3.org/2000/svg", b"")
               for a in assets.values())


def test_whoami_names_the_staff_token_s_community_and_refuses_another(api: Api, sunny: Community,
                                                                      other: Community) -> None:
    status, me, _ = api("GET", "/v1/admin/me", token=sunny.staff("guard"))
    assert status == 200
    assert me["community_id"] == sunny.cid and me["community_name"] == "Sunny Gardens"
    assert me["role"] == "staff" and me["staff_role"] == "guard" and me["staff_id"]
    assert_error(api("GET", f"/v1/admin/me?community_id={other.cid}", token=sunny.manager), 403, "forbidden")
    assert_error(api.admin("GET", "/v1/admin/me"), 400, "missing_community")
    assert_error(api.admin("GET", "/v1/admin/me?community_id=c_nowhere"), 404)
    assert_error(api("GET", "/v1/admin/me"), 401)
    status, me, _ = api.admin("GET", f"/v1/admin/me?community_id={other.cid}")
    assert (status, me["role"], me["community_name"]) == (200, "admin", "Moon Court")


def test_staff_see_the_open_withdrawals_of_their_residents_only(api: Api, hub: Deps, sunny: Community,
                                                                other: Community) -> None:
    hub.wechatpay = FakeWeChatPay()
    resident, _ = login(api, "wx-alice")
    assert api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{PHONE}"}, token=resident)[0] == 200
    assert api("PUT", "/v1/me/residence", {"community_id": sunny.cid, "building": "3", "room": "502"},
               token=resident)[0] == 200
    sunny.publish(sunny.bin, "weighin", event_id="w-1", category="paper", weight_g=2350, phone=PHONE)  # 188 fen
    status, started, _ = api("POST", "/v1/wallet/withdrawals", {"amount_fen": 150}, token=resident)
    assert status == 201 and started["status"] == "wait_user_confirm"

    [listed] = sunny.get("/withdrawals?status=wait_user_confirm")["items"]
    assert listed["withdrawal_id"] == started["withdrawal_id"] and listed["amount_fen"] == 150
    assert "package_info" not in listed and "openid" not in listed
    assert sunny.get("/withdrawals?status=processing")["items"] == []
    assert other.get("/withdrawals")["items"] == []
    assert_error(api("GET", sunny.base + "/withdrawals", token=other.manager), 403, "forbidden")
    assert_error(api("GET", sunny.base + "/withdrawals", token=sunny.staff("guard")), 403, "forbidden")
    assert_error(api("GET", sunny.base + "/withdrawals?status=succeeded", token=sunny.manager), 400,
                 "invalid_status")


def test_the_day_s_recycling_is_summed_per_category_for_the_community_s_staff(api: Api, sunny: Community,
                                                                               other: Community) -> None:
    sunny.publish(sunny.bin, "weighin", event_id="w-1", category="paper", weight_g=2350, phone=PHONE)
    sunny.publish(sunny.bin, "weighin", event_id="w-2", category="paper", weight_g=1000, phone="13900139000")
    sunny.publish(sunny.bin, "weighin", event_id="w-3", category="metal", weight_g=500, phone=PHONE)
    other.publish(other.bin, "weighin", event_id="w-1", category="paper", weight_g=9000, phone=PHONE)

    summary = sunny.get("/recycling/summary")
    assert summary["currency"] == "CNY" and len(summary["day"]) == 8
    assert summary["categories"]["paper"] == {"weighins": 2, "weight_g": 3350, "credit_fen": 188 + 80}
    assert summary["categories"]["metal"] == {"weighins": 1, "weight_g": 500, "credit_fen": 100}
    assert summary["categories"]["textile"] == {"weighins": 0, "weight_g": 0, "credit_fen": 0}
    assert summary["total"] == {"weighins": 3, "weight_g": 3850, "credit_fen": 368}
    assert sunny.get("/recycling/summary?day=20200101")["total"]["weighins"] == 0
    assert_error(api("GET", sunny.base + "/recycling/summary", token=other.manager), 403, "forbidden")
    assert_error(api("GET", sunny.base + "/recycling/summary?day=today", token=sunny.manager), 400, "invalid_day")


def test_devices_say_whether_they_are_online_and_how_full_a_bin_is(api: Api, sunny: Community,
                                                                   other: Community) -> None:
    sunny.publish(sunny.trash, "fill", event_id="f-1", fill_pct=62)
    devices = {d["thing_name"]: d for d in sunny.get("/devices")["items"]}
    assert devices[sunny.trash]["online"] is True and devices[sunny.trash]["fill_pct"] == 62
    assert devices[sunny.bin]["online"] is False and devices[sunny.bin]["fill_pct"] is None  # never heard from
    assert sunny.get(f"/devices/{sunny.trash}")["fill_pct"] == 62
    assert api.admin("POST", f"{sunny.base}/devices/{sunny.trash}/disable")[0] == 200
    assert sunny.get(f"/devices/{sunny.trash}")["online"] is False
    assert_error(api("GET", sunny.base + "/devices", token=other.manager), 403, "forbidden")
