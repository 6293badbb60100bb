"""``--demo``: a demo community with one device of each type, and simulated devices that heartbeat; and a
small simulated community (localcloud.simulator) living day after day beside it."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from localcloud.simulator.background import live_in_background
from localcloud.simulator.clock import now_ms
from localcloud.simulator.devices import DeviceLinks
from localcloud.simulator.hub_client import HubClient

log = logging.getLogger("localcloud.demo")

DEVICES = [("demo-recycling-1", "recycling_bin"), ("demo-trash-1", "trash_bin"),
           ("demo-water-101", "water_meter"), ("demo-power-101", "electricity_meter"),
           ("demo-door-east", "door"), ("demo-garden-1", "irrigation"), ("demo-home-101", "security_panel")]


def seed(stack: Any) -> None:
    base = f"http://{stack.config.host}:{stack.config.api_port}"
    token = stack.config.admin_token
    hub = HubClient(base, sandbox="", admin_token=token)
    cid = hub.call("POST", "/v1/admin/communities", {"name": "阳光花园 (demo)"})["community_id"]
    for thing_name, device_type in DEVICES:
        hub.call("POST", f"/v1/admin/communities/{cid}/devices", {"thing_name": thing_name, "type": device_type})
    log.info("demo community %s with %d devices; try: curl -H 'Authorization: Bearer %s' "
             "%s/v1/admin/communities/%s/devices", cid, len(DEVICES), token, base, cid)
    threading.Thread(target=_heartbeats, args=(stack, cid), name="demo-devices", daemon=True).start()
    live_in_background(stack)  # and a small simulated community living day after day (a day per 24 min)


def _heartbeats(stack: Any, cid: str) -> None:
    """Each simulated device publishes a heartbeat every 30 s over MQTT, as itself."""
    links = DeviceLinks(stack.config.host, stack.gateway.port, cid, lambda problem: log.warning("demo: %s", problem))
    links.connect([thing_name for thing_name, _ in DEVICES], commands=set(), on_command=lambda *_: None)
    event_ids = itertools.count(1)
    while True:
        for thing_name, _ in DEVICES:
            links.publish(thing_name, "heartbeat", {"event_id": f"hb-{next(event_ids)}", "ts": now_ms()})
        time.sleep(30)
