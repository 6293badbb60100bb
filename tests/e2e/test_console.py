"""The staff console in a real browser (Debian's chromium driven by Playwright) against localcloud.

Devices publish over MQTT, a manager logs in with the staff token, sees the devices and the alarm,
acknowledges it and publishes a notice; the API confirms both. A guard sees that the device panel is not
for their role, and the page works at phone width. Screenshots land in build/test-artifacts/console/.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import ROOT, Hub
from tests.e2e.test_localcloud import Device, wait_for
from tests.support import events

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "console"
PHONE_WIDTH = 390


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def call(hub: Hub, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else hub.admin()
    response = requests.request(method, hub.api + path, json=body, headers=headers, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


@dataclass
class Estate:
    """A community with a door that refused someone five times, a full trash bin and a day's recycling."""

    cid: str
    manager: str
    guard: str
    door: str
    trash: str
    recycler: str

    def path(self, rest: str) -> str:
        return f"/v1/admin/communities/{self.cid}{rest}"


@pytest.fixture(scope="module")
def estate(hub: Hub) -> Iterator[Estate]:
    tag = uuid.uuid4().hex[:6]
    cid = str(call(hub, "POST", "/v1/admin/communities", {"name": f"阳光花园 {tag}"})["community_id"])
    base = f"/v1/admin/communities/{cid}"
    manager = str(call(hub, "POST", base + "/staff", {"name": "王经理", "role": "manager"})["token"])
    guard = str(call(hub, "POST", base + "/staff", {"name": "李保安", "role": "guard"})["token"])
    call(hub, "PUT", base + "/recycling-prices", {"prices": {"paper": 80, "plastic": 120, "metal": 200}})
    estate = Estate(cid, manager, guard, f"door-{tag}", f"trash-{tag}", f"rbin-{tag}")
    for thing, kind, location in ((estate.door, "door", "3 号楼东门"), (estate.trash, "trash_bin", "北门"),
                                  (estate.recycler, "recycling_bin", "南门回收站")):
        call(hub, "POST", base + "/devices", {"thing_name": thing, "type": kind, "location": location})
    clients = [Device(hub, thing) for thing in (estate.door, estate.trash, estate.recycler)]
    door, trash, recycler = clients
    start = now_ms() - 60_000
    for i in range(5):
        door.publish(events.topic(cid, estate.door, "access"),
                     events.device_payload("access", event_id=f"deny-{i}", result="denied", method="card",
                                           ts=start + i * 10_000))
    trash.publish(events.topic(cid, estate.trash, "fill"), events.device_payload("fill", event_id="fill-1",
                                                                                 fill_pct=95, ts=start))
    for i, (category, grams) in enumerate((("paper", 2350), ("plastic", 1200), ("metal", 600))):
        recycler.publish(events.topic(cid, estate.recycler, "weighin"),
                         events.device_payload("weighin", event_id=f"w-{i}", category=category, weight_g=grams,
                                               phone="13800138000", ts=start + i * 1000))
    wait_for(lambda: call(hub, "GET", base + "/alarms?status=open")["items"])
    wait_for(lambda: call(hub, "GET", base + "/tasks?status=open")["items"])
    wait_for(lambda: call(hub, "GET", base + "/recycling/summary")["total"]["weighins"] == 3)
    yield estate
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (make test does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Watched:
    page: Page
    foreign: list[str]
    problems: list[str]


def open_console(browser: Browser, hub: Hub, width: int = 1280, height: int = 900) -> Watched:
    """A fresh tab on /console that records any request to another origin and any console error."""
    page = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN").new_page()
    page.set_default_timeout(10_000)
    watched = Watched(page, [], [])
    page.on("request", lambda r: None if r.url.startswith((hub.api + "/", "data:")) else watched.foreign.append(r.url))
    page.on("console", lambda m: watched.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.problems.append(str(e)))
    page.goto(hub.api + "/console")
    return watched


def log_in(page: Page, token: str) -> None:
    page.get_by_label("员工令牌").fill(token)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#who")).to_contain_text("阳光花园")


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_manager_sees_the_estate_acknowledges_the_alarm_and_publishes_a_notice(
        hub: Hub, estate: Estate, browser: Browser) -> None:
    watched = open_console(browser, hub)
    page = watched.page
    expect(page).to_have_title(re.compile("物业控制台"))
    log_in(page, estate.manager)

    devices = page.locator("#panel-devices")
    door_row = devices.locator(f'tr[data-thing="{estate.door}"]')
    expect(door_row).to_contain_text("在线")
    expect(door_row).to_contain_text("门禁")
    expect(devices.locator(f'tr[data-thing="{estate.trash}"]')).to_contain_text("95%")
    expect(devices).to_contain_text("离线 0")
    expect(page.locator("#panel-tasks")).to_contain_text("北门 需要清运")
    recycling = page.locator("#panel-recycling")
    expect(recycling).to_contain_text("4.15 kg")  # 2350 + 1200 + 600 g
    expect(recycling).to_contain_text("¥4.52")  # 188 + 144 + 120 fen
    expect(recycling.locator("svg[role=img] rect.bar")).to_have_count(5)
    expect(page.locator("#panel-rejects")).to_contain_text("最近没有被拒收的设备消息")

    [alarm] = call(hub, "GET", estate.path("/alarms?status=open"))["items"]
    expect(page.locator("#panel-alarms")).to_contain_text("门禁多次拒绝")  # staff read Chinese
    expect(page.locator("#updated")).to_contain_text("北京时间")  # the same clock as the alarm times
    ack = page.get_by_role("button", name=f"确认告警：{alarm['title']}")
    ack.focus()  # then away and back by keyboard, as a keyboard user reaches it
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(ack).to_be_focused()
    outline = ack.evaluate("b => b.matches(':focus-visible') && getComputedStyle(b).outlineStyle")
    shoot(page, "desktop")
    ack.click()
    expect(page.locator("#announce")).to_contain_text("已确认告警")
    [acknowledged] = call(hub, "GET", estate.path("/alarms?status=acknowledged"))["items"]
    assert acknowledged["alarm_id"] == alarm["alarm_id"] and acknowledged["acknowledged_by"]
    assert call(hub, "GET", estate.path("/alarms?status=open"))["items"] == []
    expect(page.get_by_role("button", name=f"解除告警：{alarm['title']}")).to_be_visible()

    title = f"停水通知 {uuid.uuid4().hex[:4]}"
    page.get_by_label("标题", exact=True).fill(title)
    page.get_by_label("内容", exact=True).fill("明天 9:00–12:00 3 号楼停水，请提前储水。<b>不是 HTML</b>")
    page.get_by_label(re.compile("^楼栋")).fill("3")
    page.get_by_role("button", name="发布通知").click()
    expect(page.locator("#panel-notices .items")).to_contain_text(title)
    expect(page.locator("#panel-notices .items")).to_contain_text("<b>不是 HTML</b>")  # shown as text
    [notice] = [n for n in call(hub, "GET", estate.path("/notices"))["items"] if n["title"] == title]
    assert notice["buildings"] == ["3"] and notice["body"].startswith("明天 9:00")

    assert outline not in (False, "none"), "a button focused by keyboard shows no focus outline"
    assert watched.foreign == [] and watched.problems == []


def test_the_console_fits_a_phone_and_a_guard_is_told_what_they_may_not_see(
        hub: Hub, estate: Estate, browser: Browser) -> None:
    watched = open_console(browser, hub, width=PHONE_WIDTH, height=844)
    page = watched.page
    log_in(page, estate.guard)
    expect(page.locator("#who")).to_contain_text("保安")
    expect(page.locator("#panel-alarms .panel-body")).not_to_be_empty()
    expect(page.locator("#panel-devices .note")).to_have_text("您的岗位无权查看此栏目。")
    expect(page.locator("#panel-notices .note")).to_have_text("您的岗位无权查看此栏目。")
    expect(page.locator("#notice-form")).to_be_hidden()

    boxes = [page.locator(f"#panel-{name}").bounding_box() for name in ("alarms", "devices", "tasks", "notices")]
    assert all(b is not None for b in boxes)
    lefts = {round(b["x"]) for b in boxes if b is not None}
    assert len(lefts) == 1, f"panels are not in one column at phone width: {boxes}"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    assert page.evaluate("sessionStorage.getItem('linli.console.token')") == estate.guard
    shoot(page, "phone")

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_label("员工令牌")).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0
    assert watched.foreign == [] and [p for p in watched.problems if "403" not in p] == []
