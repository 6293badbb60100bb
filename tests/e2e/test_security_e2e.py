"""Away mode on the local stack, over HTTP and MQTT only: a resident arms, the panel reports motion after
the exit delay, the entry delay's timer fires from the real timer queue and the intrusion alarm is open
for the guards. The community's delays are shortened to seconds through its settings."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Hub
from tests.e2e.test_localcloud import Device, wait_for
from tests.e2e.test_localcloud import community as community  # the fixture

pytestmark = pytest.mark.e2e
EXIT_S, ENTRY_S = 1, 2


def call(hub: Hub, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else hub.admin()
    response = requests.request(method, hub.api + path, json=body, headers=headers, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def test_motion_while_away_raises_an_intrusion_alarm_after_the_entry_delay(hub: Hub, community: str) -> None:
    cid = community
    call(hub, "PUT", f"/v1/admin/communities/{cid}/settings",
         {"security_exit_delay_s": EXIT_S, "security_entry_delay_s": ENTRY_S})
    panel = f"panel-{uuid.uuid4().hex[:8]}"
    call(hub, "POST", f"/v1/admin/communities/{cid}/devices",
         {"thing_name": panel, "type": "security_panel", "building": "7", "room": "1201"})
    guard = call(hub, "POST", f"/v1/admin/communities/{cid}/staff", {"name": "老王", "role": "guard"})
    token = call(hub, "POST", "/v1/auth/wechat", {"code": f"sandbox-away-{uuid.uuid4().hex[:6]}"})["token"]
    call(hub, "PUT", "/v1/me/residence", {"community_id": cid, "building": "7", "room": "1201"}, token=token)

    assert call(hub, "PUT", "/v1/me/home/security", {"mode": "armed_away"}, token=token)["state"] == "arming"
    wait_for(lambda: call(hub, "GET", "/v1/me/home/security", token=token)["state"] == "armed_away")

    device = Device(hub, panel)
    try:
        device.publish(f"dt/linli/{cid}/{panel}/security",
                       {"event_id": f"{panel}-1", "ts": time.time_ns() // 1_000_000, "sensor": "hall-pir",
                        "state": "motion"})
        wait_for(lambda: call(hub, "GET", "/v1/me/home/security", token=token)["state"] == "pending")

        def intrusion() -> list[dict[str, Any]]:
            alarms = call(hub, "GET", f"/v1/admin/communities/{cid}/alarms?status=open")["items"]
            return [a for a in alarms if a["kind"] == "intrusion"]

        (alarm,) = wait_for(intrusion, timeout_s=15)
        assert alarm["subject"] == "7-1201" and alarm["severity"] == "critical"
        assert alarm["asked"] == guard["staff_id"]
        assert call(hub, "GET", "/v1/me/home/security", token=token)["state"] == "triggered"
    finally:
        device.close()
