"""The app's event-source functions against moto: device events, the outbox stream, the health schedule."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from app import app
from chalicelib.adapters.dynamo.models import HubItem, SeenEventItem
from chalicelib.domain.community import Community
from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus, DeviceType, LastEvent
from chalicelib.domain.rejects import UNKNOWN_COMMUNITY, Reject, RejectReason
from chalicelib.handlers import device_events as device_events_handler
from chalicelib.ports import OutboxEvent, WeighinOutcome
from chalicelib.services import communities, recycling
from chalicelib.services.deps import Deps
from chalicelib.services.device_events import Outcome
from localcloud.resources import LocalResources
from tests.conftest import REGION
from tests.support import events

BIN = "bin-0001"
DEVICE_FOR_KIND = {"weighin": "recycling_bin", "fill": "trash_bin", "meter": "water_meter", "access": "door",
                   "soil": "irrigation", "security": "security_panel", "heartbeat": "electricity_meter"}


def handle_device_events(event: dict[str, Any]) -> Any:
    return app.handler_map["handle_device_events"](event, None)


def fan_out_outbox(event: dict[str, Any]) -> Any:
    return app.handler_map["fan_out_outbox"](event, None)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def cid(hub: Deps) -> str:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, BIN, "recycling_bin")
    recycling.set_prices(hub, cid, {"paper": 80})
    return cid


def weighin_event(cid: str, event_id: str = "w-1", *, thing: str = BIN, received_at: int | None = None,
                  client_id: str | None = None, **changes: Any) -> dict[str, Any]:
    received_at = now_ms() if received_at is None else received_at
    payload = events.device_payload("weighin", event_id=event_id, ts=received_at - 1_000, **changes)
    return events.sqs_device_event(payload, events.topic(cid, thing, "weighin"),
                                   thing if client_id is None else client_id, received_at)


def seen_events() -> list[SeenEventItem]:
    return [item for item in HubItem.scan() if isinstance(item, SeenEventItem)]


def rejects_of(hub: Deps, cid: str) -> list[Reject]:
    return list(hub.rejects.list_for_community(cid, 100, None).items)


def device(hub: Deps, thing: str = BIN) -> Device:
    found = hub.devices.get(thing)
    assert found is not None
    return found


# ------------------------------------------------------------------------------------ device events


def test_an_accepted_weighin_moves_the_bin_and_is_marked_processed(hub: Deps, cid: str) -> None:
    received_at = now_ms()
    event = weighin_event(cid, "w-1", received_at=received_at)

    assert handle_device_events(event) == {"batchItemFailures": []}

    bin_ = device(hub)
    assert bin_.last_seen_ms == received_at
    assert bin_.last_event == LastEvent(kind="weighin", event_id="w-1", ts_ms=received_at - 1_000)
    assert [item.pk for item in seen_events()] == [f"EVENT#{BIN}#w-1"]
    assert rejects_of(hub, cid) == []


@pytest.mark.parametrize("kind", events.DEVICE_KINDS)
def test_every_sample_device_payload_is_accepted_from_a_device_of_its_kind(hub: Deps, cid: str, kind: str) -> None:
    thing = f"{kind}-device"
    communities.register_device(hub, cid, thing, DEVICE_FOR_KIND[kind])
    payload = events.load(f"devices/{kind}")
    event = events.sqs_device_event(payload, events.topic(cid, thing, kind), thing, payload["ts"] + 350)

    assert handle_device_events(event) == {"batchItemFailures": []}

    assert device(hub, thing).last_event == LastEvent(kind=kind, event_id=payload["event_id"], ts_ms=payload["ts"])
    assert rejects_of(hub, cid) == []


def test_the_sample_queue_event_is_accepted(hub: Deps) -> None:
    sample = events.load("lambda/sqs_device_event")
    hub.communities.add(Community(community_id="c_demo", name="Demo", created_at_ms=now_ms()))
    communities.register_device(hub, "c_demo", "bin-0001", "recycling_bin")
    recycling.set_prices(hub, "c_demo", {"paper": 80, "plastic": 120, "metal": 200, "bottle": 50, "textile": 30})

    assert handle_device_events(sample) == {"batchItemFailures": []}

    assert device(hub).last_seen_ms == 1_767_225_600_350
    assert len(seen_events()) == 1


def test_a_rejected_message_is_a_reject_record_staff_can_read_and_nothing_else(hub: Deps, cid: str) -> None:
    received_at = now_ms()
    event = weighin_event(cid, "w-9", thing="bin-9999", received_at=received_at)

    assert handle_device_events(event) == {"batchItemFailures": []}  # refused is handled, not retried

    [reject] = rejects_of(hub, cid)
    assert reject.reason is RejectReason.UNKNOWN_DEVICE
    assert (reject.thing_name, reject.kind, reject.event_id, reject.client_id) == ("bin-9999", "weighin", "w-9",
                                                                                  "bin-9999")
    assert reject.received_at_ms == received_at
    assert json.loads(reject.payload)["event_id"] == "w-9"
    assert seen_events() == []
    assert device(hub).last_seen_ms is None


def test_no_item_in_the_hub_table_holds_a_full_phone_number_after_a_refused_weighin(hub: Deps, cid: str) -> None:
    """DESIGN §6: phones are stored as a keyed hash (and masked for display), dead letters included."""
    assert handle_device_events(weighin_event(cid, thing="bin-9999", phone="13912345678")) \
        == {"batchItemFailures": []}
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=HubItem.Meta.table_name)["Items"]
    assert any(item["type"]["S"] == "reject" for item in items)
    assert "13912345678" not in json.dumps(items)


def test_a_message_from_a_disabled_bin_is_refused_and_the_bin_is_untouched(hub: Deps, cid: str) -> None:
    communities.set_device_status(hub, cid, BIN, DeviceStatus.DISABLED)

    assert handle_device_events(weighin_event(cid)) == {"batchItemFailures": []}

    assert [r.reason for r in rejects_of(hub, cid)] == [RejectReason.DEVICE_DISABLED]
    assert device(hub).last_seen_ms is None
    assert seen_events() == []


def test_a_queue_message_that_is_no_envelope_is_filed_as_malformed(hub: Deps) -> None:
    event = events.sqs_event(events.sqs_record('{"hello": "world"}'))

    assert handle_device_events(event) == {"batchItemFailures": []}

    [reject] = rejects_of(hub, UNKNOWN_COMMUNITY)
    assert reject.reason is RejectReason.MALFORMED_ENVELOPE
    assert reject.payload == '{"hello": "world"}'


def test_an_invalid_payload_is_refused_with_the_field_named(hub: Deps, cid: str) -> None:
    assert handle_device_events(weighin_event(cid, weight_g="2350")) == {"batchItemFailures": []}

    [reject] = rejects_of(hub, cid)
    assert reject.reason is RejectReason.INVALID_FIELDS
    assert "weight_g" in reject.detail


def test_one_failing_record_is_reported_alone_and_succeeds_when_redelivered(
        hub: Deps, cid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    received_at = now_ms()
    records = [weighin_event(cid, f"w-{n}", received_at=received_at + n)["Records"][0] for n in (1, 2, 3)]
    real_record = hub.recycling.record_weighin
    failures = {"w-2": 1}

    def flaky_record(message: DeviceMessage, *args: Any) -> WeighinOutcome:
        if failures.get(message.event_id, 0) > 0:
            failures[message.event_id] -= 1
            raise RuntimeError("DynamoDB throttled the request")
        return real_record(message, *args)

    monkeypatch.setattr(hub.recycling, "record_weighin", flaky_record)

    response = handle_device_events(events.sqs_event(*records))

    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    assert sorted(item.pk for item in seen_events()) == [f"EVENT#{BIN}#w-1", f"EVENT#{BIN}#w-3"]
    assert rejects_of(hub, cid) == []  # a failure is not a refusal

    assert handle_device_events(events.sqs_event(records[1])) == {"batchItemFailures": []}
    assert len(seen_events()) == 3
    assert device(hub).last_event == LastEvent("weighin", "w-3", received_at + 3 - 1_000)


def test_a_redelivered_message_is_processed_once(hub: Deps, cid: str) -> None:
    event = weighin_event(cid, "w-1")
    for _ in range(3):
        assert handle_device_events(event) == {"batchItemFailures": []}
    assert len(seen_events()) == 1
    assert rejects_of(hub, cid) == []


def test_a_burst_of_the_same_event_from_five_containers_is_recorded_once(
        hub: Deps, cid: str, atomic_moto: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each thread is one Lambda container handling its copy of the message (handle_record is what the
    queue function runs per record); all five load "not seen" before any of them records."""
    burst = 5
    received_at = now_ms()
    record = weighin_event(cid, "w-1", received_at=received_at)["Records"][0]
    everyone_loaded = threading.Barrier(burst, timeout=10)
    real_record = hub.recycling.record_weighin

    def record_after_everyone_loaded(*args: Any) -> WeighinOutcome:
        everyone_loaded.wait()
        return real_record(*args)

    monkeypatch.setattr(hub.recycling, "record_weighin", record_after_everyone_loaded)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def container() -> None:
        try:
            outcomes.append(device_events_handler.handle_record(SQSRecord(record)).outcome)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=container) for _ in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(outcomes) == sorted([Outcome.ACCEPTED] + [Outcome.DUPLICATE] * (burst - 1))
    assert [item.pk for item in seen_events()] == [f"EVENT#{BIN}#w-1"]
    bin_ = device(hub)
    assert bin_.last_event == LastEvent("weighin", "w-1", received_at - 1_000)
    assert bin_.last_seen_ms == received_at
    assert rejects_of(hub, cid) == []


# ------------------------------------------------------------------------------------- outbox stream


def iot_thing(thing_name: str) -> dict[str, Any]:
    return dict(boto3.client("iot", region_name=REGION).describe_thing(thingName=thing_name))


def test_the_sample_device_registered_record_creates_the_iot_thing(hub: Deps) -> None:
    assert fan_out_outbox(events.load("lambda/outbox_stream_insert")) == {"batchItemFailures": []}

    thing = iot_thing("bin-0001")
    assert thing["attributes"] == {"community_id": "c_demo", "device_type": "recycling_bin"}


def test_a_redelivered_stream_record_is_harmless(hub: Deps) -> None:
    event = events.outbox_insert("device.registered", "c_1", "door-7", {"thing_name": "door-7", "type": "door"})
    for _ in range(2):
        assert fan_out_outbox(event) == {"batchItemFailures": []}
    assert iot_thing("door-7")["attributes"] == {"community_id": "c_1", "device_type": "door"}


def _stream_records(moto: LocalResources) -> list[dict[str, Any]]:
    """What the outbox table's stream holds, in the shape Lambda delivers it."""
    table = moto.table_named(moto.environment["LINLI_OUTBOX_TABLE"])
    assert table.stream_arn is not None
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=table.stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=table.stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    as_json: list[dict[str, Any]] = json.loads(json.dumps(records, default=lambda value: value.timestamp()))
    for record in as_json:
        record["eventSourceARN"] = table.stream_arn
    return as_json


def test_registering_a_device_makes_it_an_iot_thing_through_the_real_stream(
        hub: Deps, moto: LocalResources) -> None:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, "meter-42", "water_meter")
    records = _stream_records(moto)
    assert [r["eventName"] for r in records] == ["INSERT"]

    assert fan_out_outbox({"Records": records}) == {"batchItemFailures": []}

    assert iot_thing("meter-42")["attributes"] == {"community_id": cid, "device_type": "water_meter"}


def test_stream_records_that_are_not_new_device_registrations_are_ignored(hub: Deps) -> None:
    other_type = events.outbox_insert("community.renamed", "c_1", "c_1", {"name": "x"})
    removal = events.load("lambda/outbox_stream_insert")
    removal["Records"][0]["eventName"] = "REMOVE"
    for event in (other_type, removal):
        assert fan_out_outbox(event) == {"batchItemFailures": []}
    assert boto3.client("iot", region_name=REGION).list_things()["things"] == []


def test_a_failing_provisioning_is_reported_for_retry(hub: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    real_ensure_thing = hub.things.ensure_thing

    def iot_down_for_bins(thing_name: str, community_id: str, device_type: str) -> None:
        if device_type == "recycling_bin":
            raise RuntimeError("IoT is unavailable")
        real_ensure_thing(thing_name, community_id, device_type)

    monkeypatch.setattr(hub.things, "ensure_thing", iot_down_for_bins)
    bin_record = events.load("lambda/outbox_stream_insert")["Records"][0]
    door_record = events.outbox_insert("device.registered", "c_1", "door-7",
                                       {"thing_name": "door-7", "type": "door"})["Records"][0]
    door_record["dynamodb"]["SequenceNumber"] = "111100000000000000000002"

    response = fan_out_outbox({"Records": [bin_record, door_record]})

    assert response == {"batchItemFailures": [{"itemIdentifier": bin_record["dynamodb"]["SequenceNumber"]}]}
    assert iot_thing("door-7")["attributes"] == {"community_id": "c_1", "device_type": "door"}
    with pytest.raises(BatchProcessingError):  # a batch that failed entirely fails the whole invocation
        fan_out_outbox({"Records": [bin_record]})


# ----------------------------------------------------------------------------------------- schedule


def test_the_health_check_counts_silent_devices(hub: Deps, cid: str) -> None:
    long_ago = now_ms() - 3_600_000
    hub.devices.register(
        Device(thing_name="quiet-bin", community_id=cid, type=DeviceType.RECYCLING_BIN,
               status=DeviceStatus.ACTIVE, registered_at_ms=long_ago),
        OutboxEvent(type="device.registered", community_id=cid, key="quiet-bin",
                    data={"thing_name": "quiet-bin", "type": "recycling_bin"}))

    check_device_health = app.handler_map["check_device_health"]
    assert check_device_health(events.load("lambda/scheduled"), None) == {"total": 2, "silent": 1}
