"""What devices say, parsed and checked: every way a message can be refused names the right reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.domain.device_messages import (
    MAX_EVENT_ID_LENGTH,
    READING_BY_KIND,
    RECYCLING_CATEGORIES,
    Access,
    ClockWindow,
    DeviceMessage,
    Fill,
    Heartbeat,
    MeterReading,
    RawDeviceMessage,
    SecurityEvent,
    Soil,
    Topic,
    Weighin,
    check_reading,
    check_sender,
    check_timestamp,
    parse_topic,
)
from chalicelib.domain.devices import KINDS_BY_TYPE, Device, DeviceStatus, DeviceType
from chalicelib.domain.rejects import Rejected, RejectReason
from chalicelib.handlers.device_messages import parse_envelope, parse_message
from tests.support import events
from tests.support.fakes import CLOCK_WINDOW

CID, THING = "c_000001", "bin-0001"
RECEIVED_AT = 1_767_225_600_350
HOUR_MS, MINUTE_MS = 3_600_000, 60_000


def raw(kind: str, payload: dict[str, Any] | str, *, thing: str = THING, client_id: str | None = THING,
        received_at: int = RECEIVED_AT, topic: str | None = None) -> RawDeviceMessage:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return RawDeviceMessage(topic=topic or events.topic(CID, thing, kind), payload=text, client_id=client_id,
                            received_at_ms=received_at)


def parse(kind: str, payload: dict[str, Any] | str, **kwargs: Any) -> DeviceMessage:
    return parse_message(raw(kind, payload, **kwargs))


def reason_of(call: Any, *args: Any) -> RejectReason:
    with pytest.raises(Rejected) as caught:
        call(*args)
    return caught.value.reason


def without(kind: str, field: str) -> dict[str, Any]:
    payload = events.device_payload(kind)
    del payload[field]
    return payload


def device(type_: DeviceType = DeviceType.RECYCLING_BIN, *, status: DeviceStatus = DeviceStatus.ACTIVE,
           community_id: str = CID, thing_name: str = THING) -> Device:
    return Device(thing_name=thing_name, community_id=community_id, type=type_, status=status,
                  registered_at_ms=RECEIVED_AT - HOUR_MS)


# ------------------------------------------------------------------------------------------- topics


def test_a_device_topic_names_community_thing_and_kind() -> None:
    assert parse_topic("dt/linli/c_1/bin-0001/weighin") == Topic(community_id="c_1", thing_name="bin-0001",
                                                                 kind="weighin")


@pytest.mark.parametrize("topic", [
    "",
    "dt/linli/c_1/bin-0001",
    "dt/linli/c_1/bin-0001/weighin/extra",
    "cmd/linli/c_1/bin-0001/weighin",
    "dt/other/c_1/bin-0001/weighin",
    "dt/linli//bin-0001/weighin",
    "dt/linli/c_1//weighin",
    "dt/linli/c_1/bin-0001/",
    "/dt/linli/c_1/bin-0001/weighin",
])
def test_any_other_topic_is_malformed(topic: str) -> None:
    assert reason_of(parse_topic, topic) is RejectReason.MALFORMED_TOPIC


# ---------------------------------------------------------------------------------------- envelopes


def test_the_sample_queue_message_is_a_device_envelope() -> None:
    body = events.load("lambda/sqs_device_event")["Records"][0]["body"]
    message = parse_envelope(body)
    assert message.topic == "dt/linli/c_demo/bin-0001/weighin"
    assert message.client_id == "bin-0001"
    assert message.received_at_ms == 1_767_225_600_350
    assert json.loads(message.payload) == events.load("devices/weighin")


def test_an_envelope_without_client_id_has_none() -> None:
    body = json.dumps({"payload_b64": base64.b64encode(b"{}").decode(), "topic": "dt/linli/c/t/fill",
                       "received_at": 5})
    assert parse_envelope(body).client_id is None


def _envelope_without(field: str) -> str:
    body = json.loads(events.envelope({"event_id": "e"}, "dt/linli/c/t/fill", "t", RECEIVED_AT))
    del body[field]
    return json.dumps(body)


@pytest.mark.parametrize("body", [
    "",
    "not json at all",
    "[]",
    '"a string"',
    "{}",
    _envelope_without("payload_b64"),
    _envelope_without("topic"),
    _envelope_without("received_at"),
    json.dumps({"payload_b64": "%%% not base64 %%%", "topic": "dt/linli/c/t/fill", "received_at": 1}),
    json.dumps({"payload_b64": "e30=", "topic": "dt/linli/c/t/fill", "received_at": "yesterday"}),
])
def test_a_queue_message_that_is_not_an_envelope_is_malformed(body: str) -> None:
    assert reason_of(parse_envelope, body) is RejectReason.MALFORMED_ENVELOPE


def test_a_payload_that_is_not_utf8_is_kept_for_staff_and_refused_as_malformed_json() -> None:
    body = events.envelope(b"\xff\xfe\x00binary", "dt/linli/c/t/fill", "t", RECEIVED_AT)
    message = parse_envelope(body)
    assert message.payload == "base64:" + base64.b64encode(b"\xff\xfe\x00binary").decode()
    assert reason_of(parse_message, message) is RejectReason.MALFORMED_JSON


# ------------------------------------------------------------------------------------------ payloads


@pytest.mark.parametrize("kind", events.DEVICE_KINDS)
def test_every_sample_payload_parses_and_passes_the_value_rules(kind: str) -> None:
    payload = events.load(f"devices/{kind}")
    message = parse(kind, payload)
    assert (message.community_id, message.thing_name, message.kind) == (CID, THING, kind)
    assert message.event_id == payload["event_id"]
    assert message.ts_ms == payload["ts"]
    assert message.received_at_ms == RECEIVED_AT
    assert message.client_id == THING
    assert type(message.reading) is READING_BY_KIND[kind]
    check_reading(message.reading)


def test_the_samples_cover_exactly_the_kinds_devices_may_send() -> None:
    sample_kinds = {path.stem for path in (events.EVENTS_DIR / "devices").glob("*.json")}
    assert sample_kinds == set(events.DEVICE_KINDS) == set(READING_BY_KIND)
    assert set().union(*KINDS_BY_TYPE.values()) == set(READING_BY_KIND)


def test_readings_carry_the_typed_values() -> None:
    assert parse("weighin", events.device_payload("weighin")).reading == Weighin(
        category="paper", weight_g=2350, phone="13800138000")
    assert parse("fill", events.device_payload("fill")).reading == Fill(fill_pct=87.5)
    assert parse("meter", events.device_payload("meter")).reading == MeterReading(reading=1234.567, unit="m3")
    assert parse("access", events.device_payload("access")).reading == Access(
        door="building-3-east", result="granted", method="face")
    assert parse("soil", events.device_payload("soil")).reading == Soil(moisture_pct=23.4, temp_c=18.5)
    assert parse("security", events.device_payload("security")).reading == SecurityEvent(
        sensor="living-room-pir", state="motion")
    assert parse("heartbeat", events.device_payload("heartbeat")).reading == Heartbeat()


def test_whole_numbers_are_fine_where_decimals_are_allowed() -> None:
    assert parse("fill", events.device_payload("fill", fill_pct=50)).reading == Fill(fill_pct=50)
    assert parse("meter", events.device_payload("meter", reading=0, unit="kWh")).reading == MeterReading(0, "kWh")


def test_unknown_extra_fields_are_ignored_so_newer_firmware_is_not_rejected() -> None:
    payload = events.device_payload("weighin", firmware="2.4.1", battery_pct=81, extra={"nested": [1, 2]})
    message = parse("weighin", payload)
    assert message.reading == Weighin(category="paper", weight_g=2350, phone="13800138000")
    assert parse("heartbeat", events.device_payload("heartbeat", rssi=-67)).reading == Heartbeat()


@pytest.mark.parametrize("payload", ["", "{", "not json", "{'single': 'quotes'}", '{"event_id": "e",}'])
def test_a_payload_that_is_not_json_is_malformed_json(payload: str) -> None:
    assert reason_of(parse, "weighin", payload) is RejectReason.MALFORMED_JSON


@pytest.mark.parametrize("payload", ["[]", '[{"event_id": "e", "ts": 1}]', '"text"', "42", "null", "true"])
def test_a_payload_that_is_not_a_json_object_is_malformed_json(payload: str) -> None:
    assert reason_of(parse, "heartbeat", payload) is RejectReason.MALFORMED_JSON


@pytest.mark.parametrize("kind", ["temperature", "Weighin", "weigh-in", "cmd"])
def test_a_kind_no_device_sends_is_unknown(kind: str) -> None:
    assert reason_of(parse, kind, events.device_payload("heartbeat")) is RejectReason.UNKNOWN_KIND


def test_a_malformed_topic_is_refused_before_the_payload_is_read() -> None:
    message = raw("weighin", "not even json", topic="dt/linli/c_1/bin-0001")
    assert reason_of(parse_message, message) is RejectReason.MALFORMED_TOPIC


REQUIRED = [(kind, field) for kind in events.DEVICE_KINDS for field in events.load(f"devices/{kind}")]


@pytest.mark.parametrize(("kind", "field"), REQUIRED)
def test_every_field_of_every_kind_is_required(kind: str, field: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse(kind, without(kind, field))
    assert caught.value.reason is RejectReason.INVALID_FIELDS
    assert field in caught.value.detail


@pytest.mark.parametrize(("kind", "field", "value"), [
    ("weighin", "weight_g", "12"),
    ("weighin", "weight_g", 12.5),
    ("weighin", "weight_g", 12.0),
    ("weighin", "weight_g", True),
    ("weighin", "weight_g", None),
    ("weighin", "phone", 13800138000),
    ("weighin", "category", ["paper"]),
    ("weighin", "ts", "1767225600000"),
    ("weighin", "ts", 1767225600000.5),
    ("weighin", "ts", True),
    ("heartbeat", "event_id", 42),
    ("heartbeat", "event_id", None),
    ("fill", "fill_pct", "87.5"),
    ("fill", "fill_pct", False),
    ("meter", "reading", "1234"),
    ("meter", "unit", "kwh"),
    ("meter", "unit", "litre"),
    ("access", "result", "maybe"),
    ("access", "method", "fingerprint"),
    ("soil", "temp_c", "hot"),
    ("security", "state", "broken"),
])
def test_a_field_of_the_wrong_type_or_value_set_is_invalid(kind: str, field: str, value: Any) -> None:
    with pytest.raises(Rejected) as caught:
        parse(kind, events.device_payload(kind, **{field: value}))
    assert caught.value.reason is RejectReason.INVALID_FIELDS
    assert field in caught.value.detail


@pytest.mark.parametrize("event_id", ["", "x" * (MAX_EVENT_ID_LENGTH + 1)])
def test_an_empty_or_overlong_event_id_is_invalid(event_id: str) -> None:
    payload = events.device_payload("heartbeat", event_id=event_id)
    assert reason_of(parse, "heartbeat", payload) is RejectReason.INVALID_FIELDS


def test_an_event_id_of_the_maximum_length_is_fine() -> None:
    event_id = "x" * MAX_EVENT_ID_LENGTH
    assert parse("heartbeat", events.device_payload("heartbeat", event_id=event_id)).event_id == event_id


# ------------------------------------------------------------------------------------ value rules


@pytest.mark.parametrize("category", RECYCLING_CATEGORIES)
def test_each_bin_compartment_is_a_category(category: str) -> None:
    check_reading(Weighin(category=category, weight_g=1, phone="13800138000"))


@pytest.mark.parametrize("reading", [
    Weighin(category="glass", weight_g=100, phone="13800138000"),
    Weighin(category="Paper", weight_g=100, phone="13800138000"),
    Weighin(category="paper", weight_g=0, phone="13800138000"),
    Weighin(category="paper", weight_g=-250, phone="13800138000"),
    Weighin(category="paper", weight_g=100, phone="12800138000"),
    Weighin(category="paper", weight_g=100, phone="1380013800"),
    Weighin(category="paper", weight_g=100, phone="138001380001"),
    Weighin(category="paper", weight_g=100, phone="+8613800138000"),
    Weighin(category="paper", weight_g=100, phone="1380013800a"),
    Weighin(category="paper", weight_g=100, phone=""),
    Weighin(category="paper", weight_g=100, phone="13800138000\n"),
    Weighin(category="paper", weight_g=100, phone="13800138\uff10\uff10\uff10"),
    Fill(fill_pct=100.1),
    Fill(fill_pct=-1),
    MeterReading(reading=-0.001, unit="m3"),
    Soil(moisture_pct=100.5, temp_c=20),
    Soil(moisture_pct=-1, temp_c=20),
    Soil(moisture_pct=30, temp_c=80.5),
    Soil(moisture_pct=30, temp_c=-50.5),
    Access(door="", result="granted", method="face"),
    SecurityEvent(sensor="", state="open"),
], ids=repr)
def test_implausible_values_are_refused(reading: Any) -> None:
    assert reason_of(check_reading, reading) is RejectReason.IMPLAUSIBLE_VALUE


@pytest.mark.parametrize("reading", [
    Fill(fill_pct=0), Fill(fill_pct=100), MeterReading(reading=0, unit="kWh"),
    Soil(moisture_pct=0, temp_c=-50), Soil(moisture_pct=100, temp_c=80),
], ids=repr)
def test_values_on_the_edge_of_their_range_are_plausible(reading: Any) -> None:
    check_reading(reading)


@pytest.mark.parametrize(("kind", "field", "value"), [
    ("meter", "reading", "NaN"),
    ("meter", "reading", "Infinity"),
    ("fill", "fill_pct", "NaN"),
    ("soil", "temp_c", "-Infinity"),
])
def test_non_finite_numbers_are_never_accepted(kind: str, field: str, value: str) -> None:
    """Python's json reads NaN/Infinity (not JSON per RFC 8259); a meter reading of NaN is no reading."""
    payload = json.dumps(events.device_payload(kind, **{field: 0})).replace(
        f'"{field}": 0', f'"{field}": {value}')
    with pytest.raises(Rejected) as caught:
        check_reading(parse(kind, payload).reading)
    assert caught.value.reason in (RejectReason.MALFORMED_JSON, RejectReason.INVALID_FIELDS,
                                   RejectReason.IMPLAUSIBLE_VALUE)


# ------------------------------------------------------------------------------ timestamps, senders

WINDOW = ClockWindow(max_age_ms=24 * HOUR_MS, max_ahead_ms=5 * MINUTE_MS)


def test_the_unit_window_is_the_hub_default() -> None:
    assert WINDOW == CLOCK_WINDOW


@pytest.mark.parametrize("offset_ms", [0, -24 * HOUR_MS, 5 * MINUTE_MS, -1, 1])
def test_timestamps_within_a_day_behind_or_five_minutes_ahead_are_fine(offset_ms: int) -> None:
    check_timestamp(RECEIVED_AT + offset_ms, RECEIVED_AT, WINDOW)


def test_a_timestamp_more_than_a_day_old_is_stale() -> None:
    assert reason_of(check_timestamp, RECEIVED_AT - 24 * HOUR_MS - 1, RECEIVED_AT, WINDOW) \
        is RejectReason.STALE_TIMESTAMP


def test_a_timestamp_more_than_five_minutes_ahead_is_in_the_future() -> None:
    assert reason_of(check_timestamp, RECEIVED_AT + 5 * MINUTE_MS + 1, RECEIVED_AT, WINDOW) \
        is RejectReason.FUTURE_TIMESTAMP


def _message(kind: str = "weighin", client_id: str | None = THING, community_id: str = CID) -> DeviceMessage:
    return parse(kind, events.device_payload(kind), client_id=client_id,
                 topic=events.topic(community_id, THING, kind))


def test_an_active_device_of_the_topic_community_publishing_as_itself_passes() -> None:
    bin_ = device()
    assert check_sender(_message(), bin_) is bin_


@pytest.mark.parametrize(("message", "sender", "reason"), [
    (_message(), None, RejectReason.UNKNOWN_DEVICE),
    (_message(), device(status=DeviceStatus.DISABLED), RejectReason.DEVICE_DISABLED),
    (_message(community_id="c_other"), device(), RejectReason.WRONG_COMMUNITY),
    (_message(client_id="bin-0002"), device(), RejectReason.FOREIGN_PUBLISHER),
    (_message(client_id=""), device(), RejectReason.FOREIGN_PUBLISHER),
    (_message("fill"), device(DeviceType.RECYCLING_BIN), RejectReason.KIND_NOT_SUPPORTED),
    (_message("weighin"), device(DeviceType.TRASH_BIN), RejectReason.KIND_NOT_SUPPORTED),
    (_message("access"), device(DeviceType.SECURITY_PANEL), RejectReason.KIND_NOT_SUPPORTED),
], ids=lambda v: getattr(v, "value", None) or "")
def test_senders_that_may_not_send_this_are_refused(message: DeviceMessage, sender: Device | None,
                                                    reason: RejectReason) -> None:
    assert reason_of(check_sender, message, sender) is reason


@pytest.mark.parametrize("type_", list(DeviceType))
def test_every_device_type_may_send_heartbeats_and_its_own_kind(type_: DeviceType) -> None:
    for kind in KINDS_BY_TYPE[type_]:
        check_sender(_message(kind), device(type_))
    assert "heartbeat" in KINDS_BY_TYPE[type_]


# ------------------------------------------------------------------ every reason, end to end


def classify(body: str, sender: Device | None, window: ClockWindow = WINDOW) -> RejectReason | None:
    """The checks in the order the hub runs them (handler, then ingest); None means accepted."""
    try:
        message = parse_message(parse_envelope(body))
        checked = check_sender(message, sender)
        check_timestamp(message.ts_ms, message.received_at_ms, window)
        check_reading(message.reading)
    except Rejected as rejected:
        return rejected.reason
    assert checked is sender
    return None


def body(kind: str = "weighin", payload: dict[str, Any] | str | None = None, *, client_id: str | None = THING,
         received_at: int | None = None, topic: str | None = None) -> str:
    payload = events.device_payload(kind) if payload is None else payload
    ts = payload["ts"] if isinstance(payload, dict) else 0
    return events.envelope(payload, topic or events.topic(CID, THING, kind), client_id,
                           received_at if received_at is not None else ts + 350)


EVERY_REASON = [
    (RejectReason.MALFORMED_ENVELOPE, '{"topic": "dt/linli/c/t/weighin"}', device()),
    (RejectReason.MALFORMED_TOPIC, body(topic="dt/linli/" + CID + "/" + THING), device()),
    (RejectReason.MALFORMED_JSON, body(payload="{not json"), device()),
    (RejectReason.MALFORMED_JSON, body(payload="[1, 2]"), device()),
    (RejectReason.UNKNOWN_KIND, body(topic=events.topic(CID, THING, "weather")), device()),
    (RejectReason.INVALID_FIELDS, body(payload=without("weighin", "phone")), device()),
    (RejectReason.INVALID_FIELDS, body(payload=events.device_payload("weighin", weight_g="12")), device()),
    (RejectReason.INVALID_FIELDS, body(payload=events.device_payload("weighin", weight_g=12.5)), device()),
    (RejectReason.INVALID_FIELDS, body(payload=without("weighin", "event_id")), device()),
    (RejectReason.INVALID_FIELDS, body(payload=events.device_payload("weighin", event_id="e" * 129)), device()),
    (RejectReason.UNKNOWN_DEVICE, body(), None),
    (RejectReason.DEVICE_DISABLED, body(), device(status=DeviceStatus.DISABLED)),
    (RejectReason.WRONG_COMMUNITY, body(), device(community_id="c_elsewhere")),
    (RejectReason.FOREIGN_PUBLISHER, body(client_id="bin-0002"), device()),
    (RejectReason.KIND_NOT_SUPPORTED, body(), device(DeviceType.WATER_METER)),
    (RejectReason.STALE_TIMESTAMP, body(received_at=1_767_225_600_000 + 24 * HOUR_MS + 1), device()),
    (RejectReason.FUTURE_TIMESTAMP, body(received_at=1_767_225_600_000 - 5 * MINUTE_MS - 1), device()),
    (RejectReason.IMPLAUSIBLE_VALUE, body(payload=events.device_payload("weighin", category="glass")), device()),
    (RejectReason.IMPLAUSIBLE_VALUE, body(payload=events.device_payload("weighin", weight_g=0)), device()),
    (RejectReason.IMPLAUSIBLE_VALUE, body(payload=events.device_payload("weighin", phone="1234")), device()),
    (RejectReason.IMPLAUSIBLE_VALUE, body("fill", events.device_payload("fill", fill_pct=101)),
     device(DeviceType.TRASH_BIN)),
]


@pytest.mark.parametrize(("reason", "queue_body", "sender"), EVERY_REASON,
                         ids=[f"{reason.value}-{i}" for i, (reason, _, _) in enumerate(EVERY_REASON)])
def test_each_input_is_refused_with_its_reason(reason: RejectReason, queue_body: str,
                                               sender: Device | None) -> None:
    assert classify(queue_body, sender) is reason


#: reasons that need the community's terms (tests/unit/test_recycling.py) or come from the ledger audit
#: reasons that need the hub's state (prices, the day's credits, the books, a meter's earlier readings);
#: tests/integration/test_recycling_credit.py, test_withdrawals.py and test_usage.py produce them
NOT_FROM_THE_MESSAGE_ALONE = {RejectReason.NO_PRICE, RejectReason.OVER_DAILY_CAP, RejectReason.LEDGER_MISMATCH,
                              RejectReason.METER_WENT_BACKWARDS, RejectReason.METER_JUMP,
                              RejectReason.METER_OUT_OF_WINDOW}


def test_every_reject_reason_has_an_input_that_produces_it() -> None:
    assert {reason for reason, _, _ in EVERY_REASON} == set(RejectReason) - NOT_FROM_THE_MESSAGE_ALONE


def test_the_sample_queue_message_is_accepted_from_its_registered_bin() -> None:
    sample = events.load("lambda/sqs_device_event")["Records"][0]["body"]
    assert classify(sample, device(community_id="c_demo")) is None
