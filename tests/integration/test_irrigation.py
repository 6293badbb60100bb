"""Irrigation through the real device handler over moto, the staff API, and the command adapter against a
real local MQTT broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from app import app
from chalicelib.adapters.commands import MqttCommands
from chalicelib.domain.errors import UpstreamUnavailable
from chalicelib.services import communities
from chalicelib.services.deps import Deps
from localcloud.broker import IotGateway
from localcloud.device_policy import HUB_USERNAME
from tests.integration.test_api import Api
from tests.integration.test_api import api as api  # the fixture
from tests.integration.test_broker import Device, wait_until
from tests.support import events

THING = "irr-lawn-1"
CHINA = timedelta(hours=8)


class Published:
    """The Commands port, recording; ``fail`` makes the next publishes raise (a broker hiccup)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = 0

    def publish(self, topic: str, payload: bytes) -> None:
        if self.fail:
            self.fail -= 1
            raise UpstreamUnavailable("broker down")
        self.sent.append((topic, json.loads(payload)))


def yesterday(hour: int, minute: int = 0) -> int:
    today = (datetime.now(UTC) + CHINA).date()
    at = datetime(today.year, today.month, today.day, hour, minute, tzinfo=UTC) - timedelta(days=1) - CHINA
    return int(at.timestamp() * 1000)


def soil(cid: str, event_id: str, ts: int, moisture: float, thing: str = THING) -> Any:
    payload = events.device_payload("soil", event_id=event_id, ts=ts, moisture_pct=moisture)
    event = events.sqs_device_event(payload, events.topic(cid, thing, "soil"), thing, ts + 1_000)
    return app.handler_map["handle_device_events"](event, None)


@pytest.fixture
def published(hub: Deps) -> Published:
    hub.command_sender = published = Published()
    return published


@pytest.fixture
def cid(hub: Deps) -> str:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, THING, "irrigation", location="lawn")
    return cid


def test_dry_soil_sends_one_water_command_and_a_redelivery_sends_none(hub: Deps, cid: str,
                                                                      published: Published) -> None:
    dry = events.load("devices/soil")["moisture_pct"]  # 23.4 %, below the default 27 %
    soil(cid, "s1", yesterday(7), dry)
    soil(cid, "s1", yesterday(7), dry)  # redelivered
    soil(cid, "s2", yesterday(7, 10), dry)  # still dry minutes later: the zone rests

    [(topic, command)] = published.sent
    assert topic == f"cmd/linli/{cid}/{THING}/water"
    assert command["duration_s"] == 600 and command["command_id"].startswith("wc_") and command["ts"] > 0


def test_a_failed_publish_is_retried_with_the_same_command(hub: Deps, cid: str, published: Published) -> None:
    published.fail = 1
    with pytest.raises(BatchProcessingError):  # the whole (one-message) batch fails: SQS redelivers it
        soil(cid, "s1", yesterday(7), 20.0)
    soil(cid, "s1", yesterday(7), 20.0)
    [(_, command)] = published.sent
    [zone] = hub.irrigation.zones(cid)
    assert zone.last_command is not None and zone.last_command.command_id == command["command_id"]


@pytest.mark.parametrize(("hour", "moisture", "sent"), [(12, 20.0, 0), (7, 27.0, 0), (7, 26.9, 1), (16, 10.0, 1)])
def test_hot_hours_and_the_threshold(cid: str, published: Published, hour: int, moisture: float, sent: int) -> None:
    soil(cid, "s1", yesterday(hour), moisture)
    assert len(published.sent) == sent


def test_hysteresis_and_out_of_order_readings(cid: str, published: Published) -> None:
    soil(cid, "s1", yesterday(6), 20.0)
    soil(cid, "s0", yesterday(5), 10.0)  # older than the one that decided: nothing
    soil(cid, "s2", yesterday(7), 30.0)  # above 27, not above 32: still resting
    soil(cid, "s3", yesterday(8), 25.0)
    assert len(published.sent) == 1
    soil(cid, "s4", yesterday(9), 35.0)
    soil(cid, "s5", yesterday(10), 25.0)
    assert len(published.sent) == 2


def test_staff_set_threshold_and_skip_days_and_see_last_watered(api: Api, cid: str, published: Published) -> None:
    base = f"/v1/admin/communities/{cid}/irrigation"
    day = (datetime.fromtimestamp(yesterday(7) / 1000, UTC) + CHINA).date().isoformat()
    status, body, _ = api.admin("PUT", base + "/zones/lawn", {"skip_days": [day]})
    assert status == 200 and body["skip_days"] == [day] and body["threshold_pct"] == 27
    soil(cid, "s1", yesterday(7), 20.0)
    assert published.sent == []

    assert api.admin("PUT", base + "/zones/lawn", {"skip_days": [], "moisture_pct": 15})[1]["threshold_pct"] == 15
    soil(cid, "s2", yesterday(8), 20.0)
    assert published.sent == []
    soil(cid, "s3", yesterday(9), 14.0)

    status, body, _ = api.admin("GET", base + "/zones")
    [zone] = body["items"]
    assert (zone["zone"], zone["moisture_pct"], zone["last_moisture_pct"]) == ("lawn", 15, 14.0)
    assert zone["last_watered_at"] is not None and zone["last_command"]["moisture_pct"] == 14.0
    [command] = api.admin("GET", base + "/commands")[1]["items"]
    assert command["command_id"] == published.sent[0][1]["command_id"] and command["zone"] == "lawn"
    assert api.admin("PUT", base + "/zones/lawn", {"moisture_pct": 101})[0] == 400
    assert api.admin("PUT", base + "/zones/lawn", {"skip_days": ["soon"]})[0] == 400


def test_only_the_communitys_managers_configure_irrigation(api: Api, hub: Deps, cid: str) -> None:
    other = communities.create_community(hub, "Elsewhere").community_id
    tokens = {}
    for community, role in ((cid, "guard"), (other, "manager"), (cid, "manager")):
        body = api.admin("POST", f"/v1/admin/communities/{community}/staff", {"name": "x", "role": role})[1]
        tokens[(community, role)] = body["token"]
    path = f"/v1/admin/communities/{cid}/irrigation/zones"
    assert api("GET", path, token=tokens[(cid, "guard")])[0] == 403
    assert api("GET", path, token=tokens[(other, "manager")])[0] == 403
    assert api("PUT", path + "/lawn", {"moisture_pct": 20}, token=tokens[(other, "manager")])[0] == 403
    assert api("GET", path, token=tokens[(cid, "manager")])[0] == 200


# ------------------------------------------------------------------------- the adapter, a real broker


@pytest.fixture
def gateway() -> Iterator[IotGateway]:
    gw = IotGateway([], port=0, hub_password="hub-secret")
    gw.start()
    yield gw
    gw.stop()


def test_the_mqtt_adapter_delivers_a_command_to_the_subscribed_device(gateway: IotGateway) -> None:
    device = Device(gateway.port, THING)
    commands = MqttCommands(f"{HUB_USERNAME}:hub-secret@127.0.0.1:{gateway.port}")
    try:
        assert device.subscribe(f"cmd/linli/+/{THING}/#")
        commands.publish(f"cmd/linli/c1/{THING}/water", b'{"command_id":"wc_1","duration_s":600,"ts":1}')
        wait_until(lambda: device.topics())
        assert device.topics() == [f"cmd/linli/c1/{THING}/water"]
        assert json.loads(device.messages[0].payload)["command_id"] == "wc_1"
    finally:
        commands.close()
        device.close()


def test_the_hub_user_needs_its_password_and_devices_still_may_not_command(gateway: IotGateway) -> None:
    with pytest.raises(UpstreamUnavailable):
        MqttCommands(f"{HUB_USERNAME}:wrong@127.0.0.1:{gateway.port}").publish("cmd/linli/c1/x/water", b"{}")
    device = Device(gateway.port, THING)
    rogue = Device(gateway.port, "irr-other")
    try:
        assert device.subscribe(f"cmd/linli/+/{THING}/#")
        assert device.subscribe("dt/linli/c1/irr-other/#")
        rogue.publish(f"cmd/linli/c1/{THING}/water", b"{}")  # a device forging a command
        rogue.publish("dt/linli/c1/irr-other/heartbeat", b"{}")  # then a marker from the same sender
        wait_until(lambda: device.topics())
        assert device.topics() == ["dt/linli/c1/irr-other/heartbeat"]
    finally:
        device.close()
        rogue.close()
