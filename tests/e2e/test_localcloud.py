"""The newcomer's path through the local stack, over HTTP and MQTT only (issue: the hub on one machine)."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.conftest import Hub, start_hub

pytestmark = pytest.mark.e2e


def wait_for(check: Callable[[], Any], timeout_s: float = 10) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


class Device:
    def __init__(self, hub: Hub, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect("127.0.0.1", hub.mqtt_port)
        self.client.loop_start()

    def publish(self, topic: str, payload: dict[str, Any] | str) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        self.client.publish(topic, body, qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def community(hub: Hub) -> str:
    response = requests.post(hub.api + "/v1/admin/communities", json={"name": f"e2e {uuid.uuid4().hex[:6]}"},
                             headers=hub.admin(), timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["community_id"])


@pytest.fixture
def bin_1(hub: Hub, community: str) -> Iterator[tuple[str, Device]]:
    thing = f"bin-{uuid.uuid4().hex[:8]}"
    response = requests.post(f"{hub.api}/v1/admin/communities/{community}/devices",
                             json={"thing_name": thing, "type": "recycling_bin"}, headers=hub.admin(), timeout=10)
    assert response.status_code == 201, response.text
    device = Device(hub, thing)
    yield thing, device
    device.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def devices(hub: Hub, cid: str) -> dict[str, Any]:
    items = requests.get(f"{hub.api}/v1/admin/communities/{cid}/devices", headers=hub.admin(), timeout=10).json()
    return {d["thing_name"]: d for d in items["items"]}


def rejects(hub: Hub, cid: str) -> list[dict[str, Any]]:
    body = requests.get(f"{hub.api}/v1/admin/communities/{cid}/rejects", headers=hub.admin(), timeout=10).json()
    return list(body["items"])


def test_healthz_and_openapi(hub: Hub) -> None:
    assert requests.get(hub.api + "/healthz", timeout=5).json() == {"status": "ok"}
    spec = requests.get(hub.api + "/openapi.json", timeout=5).json()
    assert "/v1/admin/communities/{cid}/devices" in spec["paths"]


def test_heartbeat_moves_last_seen(hub: Hub, community: str, bin_1: tuple[str, Device]) -> None:
    thing, device = bin_1
    assert devices(hub, community)[thing]["last_seen"] is None
    device.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "hb-1", "ts": now_ms()})
    seen = wait_for(lambda: devices(hub, community)[thing]["last_seen"])
    assert seen.endswith("Z")
    assert devices(hub, community)[thing]["last_event"]["event_id"] == "hb-1"


def test_bad_messages_become_rejects_with_reasons(hub: Hub, community: str, bin_1: tuple[str, Device]) -> None:
    thing, device = bin_1
    intruder = Device(hub, "intruder-1")
    try:
        device.publish(f"dt/linli/{community}/{thing}/heartbeat", "this is not json")
        device.publish(f"dt/linli/{community}/{thing}/weighin",
                       {"event_id": "w-1", "ts": now_ms(), "category": "paper", "weight_g": "2350",
                        "phone": "13800138000"})
        device.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "old", "ts": now_ms() - 25 * 3600_000})
        device.publish(f"dt/linli/{community}/{thing}/bogus", {"event_id": "b-1", "ts": now_ms()})
        intruder.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "i-1", "ts": now_ms()})
    finally:
        intruder.close()
    expected = {"malformed_json", "invalid_fields", "stale_timestamp", "unknown_kind", "foreign_publisher"}
    found = wait_for(lambda: expected <= {r["reason"] for r in rejects(hub, community)} and rejects(hub, community))
    assert all(r["thing_name"] == thing for r in found)
    assert devices(hub, community)[thing]["last_seen"] is None, "a rejected message must not count as seen"


def test_disabled_and_unknown_devices_are_rejected(hub: Hub, community: str, bin_1: tuple[str, Device]) -> None:
    thing, device = bin_1
    ghost = Device(hub, "ghost-bin")
    try:
        ghost.publish(f"dt/linli/{community}/ghost-bin/heartbeat", {"event_id": "g-1", "ts": now_ms()})
    finally:
        ghost.close()
    response = requests.post(f"{hub.api}/v1/admin/communities/{community}/devices/{thing}/disable",
                             headers=hub.admin(), timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "disabled"
    device.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "d-1", "ts": now_ms()})
    wait_for(lambda: {"unknown_device", "device_disabled"} <= {r["reason"] for r in rejects(hub, community)})


def test_duplicate_burst_counts_once(hub: Hub, community: str, bin_1: tuple[str, Device]) -> None:
    thing, device = bin_1
    ts = now_ms()
    for _ in range(5):
        device.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "dup-1", "ts": ts})
    device.publish(f"dt/linli/{community}/{thing}/heartbeat", {"event_id": "after", "ts": ts + 1})
    wait_for(lambda: devices(hub, community)[thing]["last_event"]
             and devices(hub, community)[thing]["last_event"]["event_id"] == "after")
    assert rejects(hub, community) == []


def test_resident_logs_in_and_binds_phone(hub: Hub) -> None:
    bad = requests.post(hub.api + "/v1/auth/wechat", json={"code": "not-a-sandbox-code"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_code"
    login = requests.post(hub.api + "/v1/auth/wechat", json={"code": f"sandbox-{uuid.uuid4().hex}"}, timeout=10)
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["expires_in"] > 0 and body["resident_id"]
    auth = {"Authorization": f"Bearer {body['token']}"}
    phone = f"139{int(time.time() * 1000) % 10**8:08d}"
    bound = requests.post(hub.api + "/v1/me/phone", json={"code": f"sandbox-phone-{phone}"}, headers=auth, timeout=10)
    assert bound.status_code == 200, bound.text
    assert bound.json()["phone"] == f"{phone[:3]}****{phone[-4:]}"
    forbidden = requests.post(hub.api + "/v1/admin/communities", json={"name": "x"}, headers=auth, timeout=10)
    assert forbidden.status_code == 403
    forged = requests.get(hub.api + "/v1/me", headers={"Authorization": "Bearer v1.e30.AAAA"}, timeout=10)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_token"


def test_sigterm_stops_every_part(tmp_path: Any) -> None:
    hub = start_hub(tmp_path)
    hub.process.send_signal(signal.SIGTERM)
    assert hub.process.wait(timeout=20) == 0
    port = int(hub.api.rsplit(":", 1)[1])
    with socket.socket() as sock:
        # the API port is free again (SO_REUSEADDR, as any server sets, tolerates TIME_WAIT leftovers)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    assert "stopped embedded AWS" in hub.log_path.read_text()
