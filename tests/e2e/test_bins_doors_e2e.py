"""Trash bins and doors through localcloud: devices publish over MQTT, staff read over HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Hub
from tests.e2e.test_localcloud import Device, wait_for
from tests.support import events

pytestmark = pytest.mark.e2e


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def admin(hub: Hub, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, hub.api + path, json=body, headers=hub.admin(), timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def community(hub: Hub) -> str:
    return str(admin(hub, "POST", "/v1/admin/communities", {"name": f"bins {uuid.uuid4().hex[:6]}"})["community_id"])


def device(hub: Hub, cid: str, device_type: str, location: str) -> Iterator[tuple[str, Device]]:
    thing = f"{device_type}-{uuid.uuid4().hex[:8]}"
    admin(hub, "POST", f"/v1/admin/communities/{cid}/devices",
          {"thing_name": thing, "type": device_type, "location": location})
    client = Device(hub, thing)
    yield thing, client
    client.close()


@pytest.fixture
def trash_bin(hub: Hub, community: str) -> Iterator[tuple[str, Device]]:
    yield from device(hub, community, "trash_bin", "north gate")


@pytest.fixture
def door(hub: Hub, community: str) -> Iterator[tuple[str, Device]]:
    yield from device(hub, community, "door", "east gate")


def tasks(hub: Hub, cid: str, status: str) -> list[dict[str, Any]]:
    return list(admin(hub, "GET", f"/v1/admin/communities/{cid}/tasks?status={status}")["items"])


def test_a_bin_fills_then_is_emptied(hub: Hub, community: str, trash_bin: tuple[str, Device]) -> None:
    thing, client = trash_bin
    topic = events.topic(community, thing, "fill")
    full_at = now_ms() - 15 * 60_000
    client.publish(topic, events.device_payload("fill", event_id="e2e-fill-1", fill_pct=95, ts=full_at))
    [task] = wait_for(lambda: tasks(hub, community, "open"))
    assert task["thing_name"] == thing and task["location"] == "north gate"
    client.publish(topic, events.device_payload("fill", event_id="e2e-fill-2", fill_pct=10, ts=full_at + 12 * 60_000))
    [closed] = wait_for(lambda: tasks(hub, community, "closed"))
    assert closed["task_id"] == task["task_id"] and closed["time_to_empty_s"] == 12 * 60
    assert tasks(hub, community, "open") == []


def test_five_refusals_at_a_door_raise_an_alarm(hub: Hub, community: str, door: tuple[str, Device]) -> None:
    thing, client = door
    topic = events.topic(community, thing, "access")
    start = now_ms() - 60_000
    for i in range(5):
        client.publish(topic, events.device_payload("access", event_id=f"e2e-deny-{i}", result="denied",
                                                    method="card", ts=start + i * 10_000))

    def door_alarms() -> list[dict[str, Any]]:
        items = admin(hub, "GET", f"/v1/admin/communities/{community}/alarms?status=open")["items"]
        return [a for a in items if a["kind"] == "door_denied"]

    [alarm] = wait_for(door_alarms)
    assert alarm["subject"] == "building-3-east" and alarm["severity"] == "warning"
    log = wait_for(lambda: len(admin(hub, "GET", f"/v1/admin/communities/{community}/doors/building-3-east/access")
                               ["items"]) == 5)
    assert log
