"""Notices and the TV page through the API over moto."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.services.deps import Deps
from tests.integration.test_api import Api, login
from tests.integration.test_api import api as api  # the fixture


@pytest.fixture
def cid(api: Api) -> str:
    status, body, _ = api.admin("POST", "/v1/admin/communities", {"name": "阳光花园"})
    assert status == 201
    return str(body["community_id"])


def resident(api: Api, cid: str, openid: str, building: str) -> str:
    token, _ = login(api, openid)
    assert api("PUT", "/v1/me/residence", {"community_id": cid, "building": building, "room": "101"},
               token=token)[0] == 200
    return token


def publish(api: Api, cid: str, **body: object) -> dict[str, object]:
    status, answer, _ = api.admin("POST", f"/v1/admin/communities/{cid}/notices", body)
    assert status == 201, answer
    return dict(answer)


def titles(api: Api, token: str) -> list[str]:
    status, body, _ = api("GET", "/v1/notices", token=token)
    assert status == 200, body
    return [n["title"] for n in body["items"]]


def tv(api: Api, cid: str) -> tuple[int, str, dict[str, str]]:
    response = api._client.http.request("GET", f"/tv/{cid}", headers={}, body=b"")
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, body, dict(response.headers)


def test_residents_read_notices_for_everyone_and_their_building_newest_first(api: Api, cid: str) -> None:
    publish(api, cid, title="停水通知", body="周三 9:00–12:00 停水")
    publish(api, cid, title="3号楼电梯检修", body="周四", buildings=["3"])
    publish(api, cid, title="5号楼消防演练", body="周五", buildings=["5"])
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    publish(api, cid, title="明天有雨", body="请收衣服", expires_at=later)

    assert titles(api, resident(api, cid, "o-3", "3")) == ["明天有雨", "3号楼电梯检修", "停水通知"]
    assert titles(api, resident(api, cid, "o-5", "5")) == ["明天有雨", "5号楼消防演练", "停水通知"]
    other = api.admin("POST", "/v1/admin/communities", {"name": "别处"})[1]["community_id"]
    assert titles(api, resident(api, other, "o-x", "3")) == []
    staff_view = api.admin("GET", f"/v1/admin/communities/{cid}/notices")[1]["items"]
    assert len(staff_view) == 4


def test_publishing_writes_an_outbox_event_and_withdrawing_removes_it(api: Api, hub: Deps, cid: str) -> None:
    notice = publish(api, cid, title="停电", body="今晚", buildings=["3", "2"])
    [event] = [i for i in OutboxItem.scan() if i.event_type == "notice.published"]
    assert (event.community_id, event.data["notice_id"], event.data["buildings"]) == (cid, notice["notice_id"],
                                                                                      ["2", "3"])
    path = f"/v1/admin/communities/{cid}/notices/{notice['notice_id']}"
    assert api.admin("DELETE", path)[0] == 204
    assert api.admin("DELETE", path)[0] == 404
    assert api.admin("GET", f"/v1/admin/communities/{cid}/notices")[1]["items"] == []
    assert [i.event_type for i in OutboxItem.scan()].count("notice.withdrawn") == 1


@pytest.mark.parametrize("body", [{"title": "", "body": "x"}, {"title": "t"}, {"title": "t", "body": "b",
                                  "expires_at": "2020-01-01T00:00:00Z"}, {"title": "t", "body": "b",
                                  "buildings": "3"}, {"title": "t", "body": "b", "expires_at": "tomorrow"}])
def test_bad_notices_are_400(api: Api, cid: str, body: dict[str, object]) -> None:
    assert api.admin("POST", f"/v1/admin/communities/{cid}/notices", body)[0] == 400


def test_only_the_communitys_managers_publish(api: Api, cid: str) -> None:
    other = api.admin("POST", "/v1/admin/communities", {"name": "别处"})[1]["community_id"]
    stranger = api.admin("POST", f"/v1/admin/communities/{other}/staff", {"name": "李", "role": "manager"})[1]
    guard = api.admin("POST", f"/v1/admin/communities/{cid}/staff", {"name": "张", "role": "guard"})[1]
    path = f"/v1/admin/communities/{cid}/notices"
    note = {"title": "t", "body": "b"}
    assert api("POST", path, note, token=stranger["token"])[0] == 403
    assert api("POST", path, note, token=guard["token"])[0] == 403
    assert api("PUT", f"/v1/admin/communities/{cid}/tv", {"weather_note": "x"}, token=stranger["token"])[0] == 403
    resident_token = resident(api, cid, "o-r", "3")
    assert api("POST", path, note, token=resident_token)[0] == 403
    assert api("GET", "/v1/notices")[0] == 401


def test_the_tv_page_is_large_print_escaped_and_shows_only_whole_community_notices(api: Api, cid: str) -> None:
    publish(api, cid, title="停水<script>alert(1)</script>", body="周三 & 周四")
    publish(api, cid, title="3号楼电梯检修", body="只给3号楼", buildings=["3"])
    status, _, _ = api.admin("PUT", f"/v1/admin/communities/{cid}/tv", {
        "service_phones": [{"name": "物业服务中心", "phone": "0571-8888 8888"}, {"name": "报警", "phone": "110"}],
        "weather_note": "明天小雨，出门带伞"})
    assert status == 200

    status, html, headers = tv(api, cid)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="60">' in html
    assert int(re.search(r"body \{[^}]*font-size: (\d+)px", html).group(1)) >= 40  # type: ignore[union-attr]
    assert "停水&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "周三 &amp; 周四" in html and "3号楼电梯检修" not in html
    assert "物业服务中心" in html and "0571-8888 8888" in html and "明天小雨，出门带伞" in html
    assert "服务电话" in html and "通知公告" in html and "天气提示" in html


def test_the_tv_page_of_an_unknown_community_is_a_404_page(api: Api) -> None:
    status, html, headers = tv(api, "no-such-community")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and "未找到" in html


def test_bad_tv_records_are_400(api: Api, cid: str) -> None:
    path = f"/v1/admin/communities/{cid}/tv"
    assert api.admin("PUT", path, {"service_phones": [{"name": "x", "phone": "call me"}]})[0] == 400
    assert api.admin("PUT", path, {"service_phones": "110"})[0] == 400
    assert api.admin("PUT", path, {"weather_note": "x" * 201})[0] == 400
