"""Mixed device traffic of a 500-household community, replayed through localcloud as fast as it goes.

Setup through the API: a community; per household a water and an electricity meter (building/room);
20 trash bins, 6 doors, 4 irrigation zones; 30 households with a security panel whose resident arms away
(exit and entry delay 0 for the run, so an intrusion alarms at once). Then a slice of one simulated
China day (default the hour 00:00–01:00 of today, already past) is replayed over MQTT:

* meters every 15 minutes (cumulative readings that grow a little, more in the evening);
* bins every 30 minutes, some of them crossing the 90 % threshold (→ a cleaning task);
* door access events (~3 per household per day), with a few bursts of 5 refusals (→ an alarm);
* soil readings every 30 minutes per zone; heartbeats every 30 minutes from bins, doors and zones;
* a few intrusions: motion at an armed home (→ an intrusion alarm to resident and guards).

Devices are replayed device by device (each message carries its simulated time, and the hub judges
windows by message time), by 16 publishers with one MQTT connection each at a time. Reported: events
per second until the hub has taken in every message (the device-event queue drained), and the p50 /
p99 time from publishing a trigger (the fill that crosses the threshold, the 5th refusal, the motion)
to its task or alarm being visible through the staff API — watched by a poller every 100 ms, so the
figures include up to 0.1 s of polling. Messages are published faster than the hub takes them in, so
these latencies include the queue behind them.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion

from bench.hub import BenchHub, hub_or_own

HOUSEHOLDS = 500
BINS, DOORS, ZONES, ARMED = 20, 6, 4, 30
PUBLISHERS = 16
CHINA = timedelta(hours=8)
QUARTER_MS, HALF_HOUR_MS = 15 * 60_000, 30 * 60_000


@dataclass
class Device:
    thing: str
    messages: list[tuple[str, dict[str, object]]] = field(default_factory=list)  # (kind, payload)
    triggers: dict[str, str] = field(default_factory=dict)  # event id → what it should open


@dataclass
class Watch:
    """When each trigger was published and when its result became visible."""

    published: dict[str, float] = field(default_factory=dict)  # result key → wall time
    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _day_start_ms() -> int:
    """Midnight (China time) of the latest day whose first hour is fully past."""
    now = datetime.now(tz=UTC) + CHINA
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - midnight < timedelta(hours=1, minutes=5):
        midnight -= timedelta(days=1)
    return int((midnight - CHINA).timestamp() * 1000)


def _setup(hub: BenchHub, households: int) -> str:
    cid = str(hub.call("POST", "/v1/admin/communities", {"name": f"day {uuid.uuid4().hex[:6]}"})["community_id"])
    hub.call("PUT", f"/v1/admin/communities/{cid}/settings",
             {"security_exit_delay_s": 0, "security_entry_delay_s": 0})
    for name, role in (("guard-1", "guard"), ("guard-2", "guard"), ("manager", "manager")):
        hub.call("POST", f"/v1/admin/communities/{cid}/staff", {"name": name, "role": role})
    specs: list[dict[str, str]] = []
    for h in range(households):
        building, room = str(h // 50 + 1), str(100 + h % 50)
        for kind in ("water_meter", "electricity_meter"):
            specs.append({"thing_name": f"{kind[0]}m-{h:03d}", "type": kind, "building": building, "room": room})
        if h < ARMED:
            specs.append({"thing_name": f"sp-{h:03d}", "type": "security_panel", "building": building, "room": room})
    specs += [{"thing_name": f"tb-{n:02d}", "type": "trash_bin", "location": f"bin point {n}"} for n in range(BINS)]
    specs += [{"thing_name": f"door-{n}", "type": "door", "location": f"gate {n}"} for n in range(DOORS)]
    specs += [{"thing_name": f"zone-{n}", "type": "irrigation", "location": f"zone {n}"} for n in range(ZONES)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: hub.call("POST", f"/v1/admin/communities/{cid}/devices", body), specs))
    for h in range(ARMED):
        token = hub.call("POST", "/v1/auth/wechat", {"code": f"sandbox-{uuid.uuid4().hex}"}, token=None)["token"]
        hub.call("PUT", "/v1/me/residence", {"community_id": cid, "building": str(h // 50 + 1),
                                             "room": str(100 + h % 50)}, token=token)
        hub.call("PUT", "/v1/me/home/security", {"mode": "armed_away"}, token=token)
    return cid


def _traffic(households: int, start_ms: int, hours: int, rng: random.Random) -> list[Device]:
    end_ms = start_ms + hours * 3_600_000
    devices: list[Device] = []

    def event() -> str:
        return uuid.uuid4().hex[:16]

    for h in range(households):
        for prefix, unit, per_quarter in (("wm", "m3", 0.02), ("em", "kWh", 0.15)):
            device, reading = Device(f"{prefix}-{h:03d}"), 100.0 + h
            for ts in range(start_ms, end_ms, QUARTER_MS):
                reading += round(rng.uniform(0, per_quarter), 3)
                device.messages.append(("meter", {"event_id": event(), "ts": ts, "reading": round(reading, 3),
                                                  "unit": unit}))
            devices.append(device)
    for n in range(BINS):
        device, fill = Device(f"tb-{n:02d}"), rng.randint(10, 60)
        for ts in range(start_ms, end_ms, HALF_HOUR_MS):
            fill = min(100, fill + rng.randint(0, 25)) if fill < 90 else 10  # full bins get emptied
            eid = event()
            device.messages.append(("fill", {"event_id": eid, "ts": ts, "fill_pct": fill}))
            if fill >= 90:
                device.triggers[eid] = f"task:tb-{n:02d}"
            device.messages.append(("heartbeat", {"event_id": event(), "ts": ts + 1}))
        devices.append(device)
    for n in range(DOORS):
        device = Device(f"door-{n}")
        for _ in range(max(1, households * 3 * hours // 24 // DOORS)):
            device.messages.append(("access", {"event_id": event(), "ts": rng.randrange(start_ms, end_ms),
                                               "door": f"gate {n}", "result": "granted", "method": "face"}))
        burst_at = rng.randrange(start_ms, end_ms - 120_000)
        for k in range(5):  # someone tries five times in a minute
            eid = event()
            device.messages.append(("access", {"event_id": eid, "ts": burst_at + k * 10_000, "door": f"gate {n}",
                                               "result": "denied", "method": "card"}))
        device.triggers[eid] = f"door:gate {n}"
        device.messages.sort(key=lambda m: int(str(m[1]["ts"])))
        devices.append(device)
    for n in range(ZONES):
        device = Device(f"zone-{n}")
        for ts in range(start_ms, end_ms, HALF_HOUR_MS):
            device.messages.append(("soil", {"event_id": event(), "ts": ts, "moisture_pct": rng.randint(20, 40),
                                             "temp_c": 18}))
        devices.append(device)
    return devices


def _intrusions(count: int) -> list[Device]:
    """Motion at armed homes, stamped when published (the home was armed just before the run)."""
    found = []
    for h in range(count):
        device = Device(f"sp-{h:03d}")
        device.messages.append(("security", {"event_id": uuid.uuid4().hex[:16], "ts": 0, "sensor": "hall",
                                             "state": "motion"}))
        device.triggers[str(device.messages[0][1]["event_id"])] = f"intrusion:{h // 50 + 1}-{100 + h % 50}"
        found.append(device)
    return found


def _replay(hub: BenchHub, cid: str, device: Device, watch: Watch) -> int:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.thing)
    client.connect("127.0.0.1", hub.mqtt_port)
    client.loop_start()
    try:
        for kind, payload in device.messages:
            if payload["ts"] == 0:
                payload["ts"] = int(time.time() * 1000)
            client.publish(f"dt/linli/{cid}/{device.thing}/{kind}", json.dumps(payload), qos=1).wait_for_publish(10)
            result = device.triggers.get(str(payload["event_id"]))
            if result is not None:
                with watch.lock:
                    watch.published.setdefault(result, time.monotonic())
    finally:
        client.loop_stop()
        client.disconnect()
    return len(device.messages)


def _poll(hub: BenchHub, cid: str, watch: Watch, stop: threading.Event) -> None:
    """Note when each expected task or alarm first shows in the staff API."""
    while not stop.is_set():
        try:
            tasks = hub.call("GET", f"/v1/admin/communities/{cid}/tasks?status=open&limit=100")["items"]
            alarms = hub.call("GET", f"/v1/admin/communities/{cid}/alarms?status=open&limit=100")["items"]
        except (requests.RequestException, RuntimeError):
            time.sleep(0.1)
            continue
        now = time.monotonic()
        keys = [f"task:{t['thing_name']}" for t in tasks]
        for alarm in alarms:
            if alarm["kind"] == "door_denied":
                keys.append(f"door:{alarm['subject']}")
            elif alarm["kind"] == "intrusion":
                keys.append(f"intrusion:{alarm['subject']}")
        with watch.lock:
            for key in keys:
                watch.seen.setdefault(key, now)
        time.sleep(0.1)


def _drained(hub: BenchHub, started: float, timeout_s: float = 1800) -> float:
    """Seconds from ``started`` until the device-event queue is empty (nothing waiting or in flight)."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=hub.aws, region_name="us-east-1", aws_access_key_id="bench",
                       aws_secret_access_key="bench")  # noqa: S106 - the local moto server takes any key
    url = sqs.get_queue_url(QueueName="linli-device-events")["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if all(int(attributes[n]) == 0 for n in names):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))] if ordered else -1.0


def measure(hub: BenchHub | None = None, households: int = HOUSEHOLDS, hours: int = 1,
            intrusions: int = 5) -> dict[str, float]:
    with hub_or_own(hub) as running:
        return _measure(running, households, hours, intrusions)


def _measure(hub: BenchHub, households: int, hours: int, intrusions: int) -> dict[str, float]:
    rng = random.Random(20261122)
    setup_started = time.monotonic()
    cid = _setup(hub, households)
    print(f"[bench] community day: setup {time.monotonic() - setup_started:.0f} s", file=sys.stderr)
    devices = _traffic(households, _day_start_ms(), hours, rng)
    rng.shuffle(devices)
    devices += _intrusions(min(intrusions, ARMED))
    watch, stop = Watch(), threading.Event()
    poller = threading.Thread(target=_poll, args=(hub, cid, watch, stop), daemon=True)
    poller.start()
    started = time.monotonic()
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        published = sum(pool.map(lambda d: _replay(hub, cid, d, watch), devices))
    publish_s = time.monotonic() - started
    processed_s = _drained(hub, started)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(watch.published) <= set(watch.seen):
        time.sleep(0.2)
    stop.set()
    poller.join(timeout=5)
    latencies = [watch.seen[k] - t for k, t in watch.published.items() if k in watch.seen and watch.seen[k] >= t]
    missing = sorted(set(watch.published) - set(watch.seen))
    if missing:
        print(f"[bench] community day: never seen: {missing[:10]}", file=sys.stderr)
    day_events = households * 2 * 96 + BINS * 96 + households * 3 + DOORS * 5 + ZONES * 48
    per_s = published / processed_s
    return {
        "day_published_per_s": round(published / publish_s, 1),
        "day_households": households,
        "day_simulated_hours": hours,
        "day_events": published,
        "day_events_per_s": round(per_s, 1),
        "day_full_day_replay_min": round(day_events / per_s / 60, 1),
        "day_triggers": len(watch.published),
        "day_triggers_unseen": len(missing),
        "day_p50_publish_to_alarm_ms": round(_percentile(latencies, 0.5) * 1000),
        "day_p99_publish_to_alarm_ms": round(_percentile(latencies, 0.99) * 1000),
    }


if __name__ == "__main__":
    hours = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(json.dumps(measure(hours=hours)))
