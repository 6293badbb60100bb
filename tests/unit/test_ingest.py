"""Device ingestion with fakes: each message is accepted once, or rejected with a reason and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.device_messages import ClockWindow, DeviceMessage, RawDeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus, LastEvent
from chalicelib.domain.rejects import MAX_PAYLOAD_CHARS, UNKNOWN_COMMUNITY, Rejected, RejectReason
from chalicelib.handlers.device_messages import parse_message
from chalicelib.ports import RecordOutcome
from chalicelib.services import communities, device_events, recycling
from chalicelib.services.deps import Deps
from chalicelib.services.device_events import IngestResult, Outcome
from tests.support import events
from tests.support.fakes import FakeDeviceEventStore, FakeDevices, FakeRejects, Fakes, make_deps

HOUR_MS, MINUTE_MS = 3_600_000, 60_000
BIN, METER = "bin-0001", "water-0001"


@pytest.fixture
def cid(fakes: Fakes) -> str:
    cid = communities.create_community(fakes.deps, "Sunny Gardens").community_id
    communities.register_device(fakes.deps, cid, BIN, "recycling_bin")
    communities.register_device(fakes.deps, cid, METER, "water_meter")
    recycling.set_prices(fakes.deps, cid, {"paper": 80, "plastic": 120, "metal": 200, "bottle": 50, "textile": 30})
    return cid


def send(deps: Deps, cid: str, kind: str = "weighin", *, thing: str = BIN, client_id: str | None = None,
         received_at: int | None = None, topic: str | None = None, **changes: Any) -> IngestResult:
    """One device message through the same steps as the queue handler (parse, then ingest or reject)."""
    payload = events.device_payload(kind, **changes)
    raw = RawDeviceMessage(
        topic=topic or events.topic(cid, thing, kind), payload=json.dumps(payload),
        client_id=thing if client_id is None else client_id,
        received_at_ms=received_at if received_at is not None else payload["ts"] + 350)
    try:
        message = parse_message(raw)
    except Rejected as rejected:
        return device_events.reject(deps, raw, rejected)
    return device_events.ingest(deps, message, raw)


TS = events.load("devices/weighin")["ts"]


def test_an_accepted_message_moves_last_seen_and_last_event(fakes: Fakes, cid: str) -> None:
    result = send(fakes.deps, cid, event_id="w-1", received_at=TS + 350)

    assert result == IngestResult(Outcome.ACCEPTED, detail="credit_fen=188 held_for_phone")
    bin_ = fakes.devices.items[BIN]
    assert bin_.last_seen_ms == TS + 350
    assert bin_.last_event == LastEvent(kind="weighin", event_id="w-1", ts_ms=TS)
    assert set(fakes.device_events.seen) == {(BIN, "w-1")}
    assert fakes.rejects.all() == []


def test_a_heartbeat_counts_as_being_seen(fakes: Fakes, cid: str) -> None:
    assert send(fakes.deps, cid, "heartbeat", thing=METER, event_id="hb-1").outcome is Outcome.ACCEPTED
    assert fakes.devices.items[METER].last_event == LastEvent("heartbeat", "hb-1", TS)


def test_the_same_event_twice_is_a_duplicate_the_second_time_and_changes_nothing(fakes: Fakes, cid: str) -> None:
    assert send(fakes.deps, cid, event_id="w-1", received_at=TS + 350).outcome is Outcome.ACCEPTED
    after_first = fakes.devices.items[BIN]

    # a retry of the device (same event id) arrives later, even with another reading
    again = send(fakes.deps, cid, event_id="w-1", received_at=TS + 60_000, weight_g=999)

    assert again == IngestResult(Outcome.DUPLICATE)
    assert fakes.devices.items[BIN] == after_first
    assert len(fakes.device_events.seen) == 1
    assert fakes.device_events.seen[(BIN, "w-1")].received_at_ms == TS + 350
    assert fakes.rejects.all() == []


def test_the_same_event_id_from_another_device_is_another_event(fakes: Fakes, cid: str) -> None:
    assert send(fakes.deps, cid, "heartbeat", thing=BIN, event_id="same").outcome is Outcome.ACCEPTED
    assert send(fakes.deps, cid, "heartbeat", thing=METER, event_id="same").outcome is Outcome.ACCEPTED
    assert set(fakes.device_events.seen) == {(BIN, "same"), (METER, "same")}


def _disable(fakes: Fakes, cid: str) -> None:
    communities.set_device_status(fakes.deps, cid, BIN, DeviceStatus.DISABLED)


REJECTIONS: list[tuple[RejectReason, dict[str, Any], Any]] = [
    (RejectReason.UNKNOWN_DEVICE, {"thing": "bin-9999"}, None),
    (RejectReason.DEVICE_DISABLED, {}, _disable),
    (RejectReason.WRONG_COMMUNITY, {"topic": events.topic("c_elsewhere", BIN, "weighin")}, None),
    (RejectReason.FOREIGN_PUBLISHER, {"client_id": METER}, None),
    (RejectReason.KIND_NOT_SUPPORTED, {"kind": "meter"}, None),
    (RejectReason.STALE_TIMESTAMP, {"received_at": TS + 24 * HOUR_MS + 1}, None),
    (RejectReason.FUTURE_TIMESTAMP, {"received_at": TS - 5 * MINUTE_MS - 1}, None),
    (RejectReason.IMPLAUSIBLE_VALUE, {"weight_g": 0}, None),
    (RejectReason.IMPLAUSIBLE_VALUE, {"category": "glass"}, None),
    (RejectReason.IMPLAUSIBLE_VALUE, {"phone": "10086"}, None),
    (RejectReason.INVALID_FIELDS, {"weight_g": "2350"}, None),
]


@pytest.mark.parametrize(("reason", "message", "arrange"), REJECTIONS,
                         ids=[f"{r.value}-{i}" for i, (r, _, _) in enumerate(REJECTIONS)])
def test_a_refused_message_leaves_a_reject_record_and_nothing_else(
        fakes: Fakes, cid: str, reason: RejectReason, message: dict[str, Any], arrange: Any) -> None:
    if arrange is not None:
        arrange(fakes, cid)
    devices_before = dict(fakes.devices.items)
    outbox_before = list(fakes.devices.outbox)
    kwargs: dict[str, Any] = {"event_id": "w-refused", **message}
    kind = kwargs.pop("kind", "weighin")

    result = send(fakes.deps, cid, kind, **kwargs)

    assert result.outcome is Outcome.REJECTED
    assert result.reason == reason.value
    [reject] = fakes.rejects.all()
    assert reject.reason is reason
    assert reject.detail == result.detail and reject.detail
    thing = kwargs.get("thing", BIN)
    assert reject.thing_name == thing
    assert reject.kind == kind
    assert reject.topic == kwargs.get("topic", events.topic(cid, thing, kind))
    assert reject.community_id == reject.topic.split("/")[2]
    assert reject.client_id == kwargs.get("client_id", thing)
    assert json.loads(reject.payload)["event_id"] == "w-refused"
    # nothing else: no device moved, the event is not marked processed, no domain event
    assert fakes.devices.items == devices_before
    assert fakes.device_events.seen == {}
    assert fakes.devices.outbox == outbox_before


def test_a_refused_weighin_keeps_the_residents_phone_masked(fakes: Fakes, cid: str) -> None:
    send(fakes.deps, cid, event_id="w-1", weight_g=0, phone="13912345678")
    [reject] = fakes.rejects.all()
    assert json.loads(reject.payload)["phone"] == "139****5678"
    assert "13912345678" not in repr(reject)


def test_a_message_refused_while_disabled_is_accepted_when_redelivered_after_enabling(
        fakes: Fakes, cid: str) -> None:
    _disable(fakes, cid)
    assert send(fakes.deps, cid, event_id="w-1").reason == RejectReason.DEVICE_DISABLED.value

    communities.set_device_status(fakes.deps, cid, BIN, DeviceStatus.ACTIVE)

    assert send(fakes.deps, cid, event_id="w-1").outcome is Outcome.ACCEPTED
    assert fakes.devices.items[BIN].last_event == LastEvent("weighin", "w-1", TS)


def test_a_redelivered_refused_message_is_one_reject_record(fakes: Fakes, cid: str) -> None:
    for _ in range(3):
        send(fakes.deps, cid, event_id="w-1", weight_g=-5, received_at=TS + 100)
    assert len(fakes.rejects.all()) == 1


def test_an_older_message_processed_after_a_newer_one_does_not_move_last_seen_back(
        fakes: Fakes, cid: str) -> None:
    newer = send(fakes.deps, cid, event_id="w-2", ts=TS + 60_000, received_at=TS + 60_500)
    older = send(fakes.deps, cid, event_id="w-1", ts=TS, received_at=TS + 500)

    assert (newer.outcome, older.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    bin_ = fakes.devices.items[BIN]
    assert bin_.last_seen_ms == TS + 60_500
    assert bin_.last_event == LastEvent("weighin", "w-2", TS + 60_000)
    # the older one is still processed exactly once
    assert set(fakes.device_events.seen) == {(BIN, "w-1"), (BIN, "w-2")}
    assert send(fakes.deps, cid, event_id="w-1", ts=TS, received_at=TS + 500).outcome is Outcome.DUPLICATE


def test_a_newer_message_moves_last_seen_forward(fakes: Fakes, cid: str) -> None:
    send(fakes.deps, cid, event_id="w-1", received_at=TS + 500)
    send(fakes.deps, cid, "heartbeat", event_id="hb-2", ts=TS + 1_000, received_at=TS + 1_500)
    bin_ = fakes.devices.items[BIN]
    assert bin_.last_seen_ms == TS + 1_500
    assert bin_.last_event == LastEvent("heartbeat", "hb-2", TS + 1_000)


def test_a_duplicate_is_not_rejected_even_if_the_device_was_disabled_since(fakes: Fakes, cid: str) -> None:
    send(fakes.deps, cid, event_id="w-1")
    _disable(fakes, cid)
    assert send(fakes.deps, cid, event_id="w-1").outcome is Outcome.DUPLICATE
    assert fakes.rejects.all() == []


class LoadedBeforeTheOtherContainer:
    """load() answers as it would have before the other container recorded the event."""

    def __init__(self, store: FakeDeviceEventStore) -> None:
        self._store = store

    def load(self, thing_name: str, event_id: str) -> tuple[Device | None, bool]:
        device, _ = self._store.load(thing_name, event_id)
        return device, False

    def record(self, message: DeviceMessage, advance_last_seen: bool) -> RecordOutcome:
        return self._store.record(message, advance_last_seen)


def test_a_store_that_reports_a_concurrent_duplicate_yields_duplicate(fakes: Fakes, cid: str) -> None:
    """Between load and record another container may record the event: record() says DUPLICATE."""
    payload = events.device_payload("weighin", event_id="w-1")
    raw = RawDeviceMessage(topic=events.topic(cid, BIN, "weighin"), payload=json.dumps(payload),
                                         client_id=BIN, received_at_ms=TS + 350)
    message = parse_message(raw)
    fakes.device_events.record(message, advance_last_seen=True)  # the other container
    fakes.deps.device_events = LoadedBeforeTheOtherContainer(fakes.device_events)
    assert device_events.ingest(fakes.deps, message, raw).outcome is Outcome.DUPLICATE
    assert fakes.rejects.all() == []


def test_the_clock_window_is_the_hubs_setting_not_a_constant() -> None:
    devices, rejects = FakeDevices(), FakeRejects()
    deps = make_deps(devices=devices, rejects=rejects,
                     clock_window=ClockWindow(max_age_ms=60_000, max_ahead_ms=1_000))
    cid = communities.create_community(deps, "Strict Gardens").community_id
    communities.register_device(deps, cid, BIN, "recycling_bin")

    def beat(event_id: str, received_at: int) -> IngestResult:
        return send(deps, cid, "heartbeat", event_id=event_id, ts=TS, received_at=received_at)

    assert beat("h-1", TS + 60_000).outcome is Outcome.ACCEPTED
    assert beat("h-2", TS + 60_001).reason == "stale_timestamp"
    assert beat("h-3", TS - 1_001).reason == "future_timestamp"
    assert [r.reason for r in rejects.all()] == [RejectReason.STALE_TIMESTAMP, RejectReason.FUTURE_TIMESTAMP]
    assert devices.items[BIN].last_event == LastEvent("heartbeat", "h-1", TS)


# ------------------------------------------------------------------- rejects before parsing


def test_a_malformed_topic_is_filed_under_the_community_it_names_if_any(fakes: Fakes, cid: str) -> None:
    result = send(fakes.deps, cid, topic=f"dt/linli/{cid}/{BIN}")
    assert result.reason == RejectReason.MALFORMED_TOPIC.value
    [reject] = fakes.rejects.all()
    assert (reject.community_id, reject.thing_name, reject.kind) == (cid, BIN, "")


def test_a_message_naming_no_community_is_filed_under_unknown(fakes: Fakes) -> None:
    raw = RawDeviceMessage(topic="", payload="garbage", client_id=None, received_at_ms=TS)
    result = device_events.reject(fakes.deps, raw, Rejected(RejectReason.MALFORMED_ENVELOPE, "not an envelope"))
    assert result == IngestResult(Outcome.REJECTED, reason="malformed_envelope", detail="not an envelope")
    [reject] = fakes.rejects.all()
    assert reject.community_id == UNKNOWN_COMMUNITY
    assert reject.payload == "garbage"


def test_a_huge_payload_is_clipped_in_its_reject_record(fakes: Fakes, cid: str) -> None:
    raw = RawDeviceMessage(topic=events.topic(cid, BIN, "weighin"), payload="x" * 100_000,
                                         client_id=BIN, received_at_ms=TS)
    device_events.reject(fakes.deps, raw, Rejected(RejectReason.MALFORMED_JSON, "not JSON"))
    [reject] = fakes.rejects.all()
    assert reject.payload.startswith("x" * MAX_PAYLOAD_CHARS)
    assert len(reject.payload) <= MAX_PAYLOAD_CHARS + 1
