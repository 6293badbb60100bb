"""``--demo``: a demo community with one device of each type, and simulated devices that heartbeat; and a
small simulated community (localcloud.simulator) living day after day beside it."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any

log = logging.getLogger("localcloud.demo")

DEVICES = [("demo-recycling-1", "recycling_bin"), ("demo-trash-1", "trash_bin"),
           ("demo-water-101", "water_meter"), ("demo-power-101", "electricity_meter"),
           ("demo-door-east", "door"), ("demo-garden-1", "irrigation"), ("demo-home-101", "security_panel")]


def _call(base: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(base + path, method=method,  # noqa: S310 - loopback only
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def seed(stack: Any) -> None:
    base = f"http://{stack.config.host}:{stack.config.api_port}"
    token = stack.config.admin_token
    community = _call(base, token, "POST", "/v1/admin/communities", {"name": "阳光花园 (demo)"})
    cid = community["community_id"]
    for thing_name, device_type in DEVICES:
        _call(base, token, "POST", f"/v1/admin/communities/{cid}/devices",
              {"thing_name": thing_name, "type": device_type})
    log.info("demo community %s with %d devices; try: curl -H 'Authorization: Bearer %s' "
             "%s/v1/admin/communities/%s/devices", cid, len(DEVICES), token, base, cid)
    threading.Thread(target=_heartbeats, args=(stack, cid), name="demo-devices", daemon=True).start()
    from localcloud.simulator.background import live_in_background

    live_in_background(stack)  # and a small simulated community living day after day (a day per 24 min)


def _heartbeats(stack: Any, cid: str) -> None:
    """Each simulated device publishes a heartbeat every 30 s over MQTT, as itself."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    clients = []
    for thing_name, _ in DEVICES:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing_name)
        client.connect(stack.config.host, stack.gateway.port)
        client.loop_start()
        clients.append((thing_name, client))
    n = 0
    while True:
        for thing_name, client in clients:
            n += 1
            payload = {"event_id": f"hb-{n}", "ts": time.time_ns() // 1_000_000}
            client.publish(f"dt/linli/{cid}/{thing_name}/heartbeat", json.dumps(payload), qos=1)
        time.sleep(30)
