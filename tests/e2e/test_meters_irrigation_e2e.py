"""Meters and irrigation through localcloud, over HTTP and MQTT only."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.conftest import Hub
from tests.e2e.test_localcloud import community as community  # the fixture
from tests.e2e.test_localcloud import now_ms, wait_for

pytestmark = pytest.mark.e2e


class Thing:
    """A device: publishes under its own name and hears the commands sent to it."""

    def __init__(self, hub: Hub, name: str) -> None:
        self.name = name
        self.received: list[tuple[str, dict[str, Any]]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", hub.mqtt_port)
        self.client.loop_start()
        self.client.subscribe(f"cmd/linli/+/{name}/#", qos=1)
        assert subscribed.wait(10), "no SUBACK"

    def publish(self, community: str, kind: str, payload: dict[str, Any]) -> None:
        topic = f"dt/linli/{community}/{self.name}/{kind}"
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def register(hub: Hub, community: str, thing: str, kind: str, **where: str) -> None:
    response = requests.post(f"{hub.api}/v1/admin/communities/{community}/devices",
                             json={"thing_name": thing, "type": kind, **where}, headers=hub.admin(), timeout=10)
    assert response.status_code == 201, response.text


def test_meter_readings_over_mqtt_show_in_the_residents_usage(hub: Hub, community: str) -> None:
    thing = f"water-{uuid.uuid4().hex[:8]}"
    register(hub, community, thing, "water_meter", building="7", room="1201")
    login = requests.post(f"{hub.api}/v1/auth/wechat", json={"code": f"sandbox-{thing}"}, timeout=10).json()
    me = {"Authorization": f"Bearer {login['token']}"}
    assert requests.put(f"{hub.api}/v1/me/residence", json={"community_id": community, "building": "7",
                                                            "room": "1201"}, headers=me, timeout=10).status_code == 200
    meter = Thing(hub, thing)
    try:
        now = now_ms()
        for n, (ago_min, reading) in enumerate([(90, 321.0), (60, 321.08), (30, 321.2)]):
            meter.publish(community, "meter", {"event_id": f"r{n}", "ts": now - ago_min * 60_000,
                                               "reading": reading, "unit": "m3"})

        def used() -> int:
            items = requests.get(f"{hub.api}/v1/me/usage?days=2", headers=me, timeout=10).json()["items"]
            return sum(d["water_l"] or 0 for d in items)

        assert wait_for(lambda: used() == 200 or None, timeout_s=20)
    finally:
        meter.close()


def test_dry_soil_over_mqtt_sends_the_water_command_to_the_controller(hub: Hub, community: str) -> None:
    thing = f"irr-{uuid.uuid4().hex[:8]}"
    register(hub, community, thing, "irrigation", location="north lawn")
    # no hot-hours pause, whatever time of day the test runs (equal start and end: no quiet window)
    response = requests.put(f"{hub.api}/v1/admin/communities/{community}/settings",
                            json={"irrigation_quiet_start_h": 0, "irrigation_quiet_end_h": 0},
                            headers=hub.admin(), timeout=10)
    assert response.status_code == 200, response.text
    controller = Thing(hub, thing)
    try:
        controller.publish(community, "soil", {"event_id": "s1", "ts": now_ms(), "moisture_pct": 12.5, "temp_c": 21})
        [(topic, command)] = wait_for(lambda: controller.received, timeout_s=20)
        assert topic == f"cmd/linli/{community}/{thing}/water"
        assert command["duration_s"] == 600 and command["command_id"]
        zones = requests.get(f"{hub.api}/v1/admin/communities/{community}/irrigation/zones", headers=hub.admin(),
                             timeout=10).json()["items"]
        assert [(z["zone"], z["last_command"]["command_id"]) for z in zones] == [("north lawn", command["command_id"])]
    finally:
        controller.close()
