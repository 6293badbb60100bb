"""End to end on localcloud: heartbeats published over MQTT by 20 devices until every one is recorded."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.hub import BenchHub, hub_or_own


def measure(hub: BenchHub | None = None, devices: int = 20, per_device: int = 25) -> dict[str, float]:
    with hub_or_own(hub) as hub:
        cid = hub.call("POST", "/v1/admin/communities", {"name": "bench-heartbeats"})["community_id"]
        clients = []
        for i in range(devices):
            thing = f"bench-hb-{i}"
            hub.call("POST", f"/v1/admin/communities/{cid}/devices", {"thing_name": thing, "type": "trash_bin"})
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing)
            client.connect("127.0.0.1", hub.mqtt_port)
            client.loop_start()
            clients.append((thing, client))
        try:
            started = time.perf_counter()
            for n in range(per_device):
                for thing, client in clients:
                    client.publish(f"dt/linli/{cid}/{thing}/heartbeat",
                                   json.dumps({"event_id": f"e{n}", "ts": time.time_ns() // 1_000_000}), qos=1)
            last = f"e{per_device - 1}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                items = hub.call("GET", f"/v1/admin/communities/{cid}/devices?limit=100")["items"]
                if len(items) == devices and all(d["last_event"] and d["last_event"]["event_id"] == last
                                                 for d in items):
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
        finally:
            for _, client in clients:
                client.loop_stop()
                client.disconnect()
    return {"e2e_heartbeats": devices * per_device, "e2e_heartbeats_per_s": round(devices * per_device / elapsed, 1)}
