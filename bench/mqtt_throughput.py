"""End to end on localcloud: heartbeats published over MQTT by 20 devices until every one is recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion


def measure(devices: int = 20, per_device: int = 25) -> dict[str, float]:
    from tests.e2e.conftest import start_hub

    with TemporaryDirectory() as tmp:
        hub = start_hub(Path(tmp))
        try:
            cid = requests.post(hub.api + "/v1/admin/communities", json={"name": "bench"},
                                headers=hub.admin(), timeout=10).json()["community_id"]
            clients = []
            for i in range(devices):
                thing = f"bench-{i}"
                requests.post(f"{hub.api}/v1/admin/communities/{cid}/devices",
                              json={"thing_name": thing, "type": "trash_bin"}, headers=hub.admin(), timeout=10)
                client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing)
                client.connect("127.0.0.1", hub.mqtt_port)
                client.loop_start()
                clients.append((thing, client))
            started = time.perf_counter()
            for n in range(per_device):
                for thing, client in clients:
                    client.publish(f"dt/linli/{cid}/{thing}/heartbeat",
                                   json.dumps({"event_id": f"e{n}", "ts": time.time_ns() // 1_000_000}), qos=1)
            last = f"e{per_device - 1}"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                items = requests.get(f"{hub.api}/v1/admin/communities/{cid}/devices", headers=hub.admin(),
                                     timeout=10).json()["items"]
                if all(d["last_event"] and d["last_event"]["event_id"] == last for d in items):
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            for _, client in clients:
                client.loop_stop()
                client.disconnect()
        finally:
            hub.process.terminate()
            hub.process.wait(timeout=60)
    return {"e2e_heartbeats": devices * per_device, "e2e_heartbeats_per_s": round(devices * per_device / elapsed, 1)}
