"""One contract per repository port, run against the in-memory fake and the DynamoDB adapter (moto).

If a test here passes for both, unit tests that use the fake say something true about production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from chalicelib.adapters.dynamo.communities import DynamoCommunities
from chalicelib.adapters.dynamo.devices import DynamoDeviceEventStore, DynamoDevices
from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.adapters.dynamo.rejects import DynamoRejects
from chalicelib.adapters.dynamo.residents import DynamoResidents
from chalicelib.domain.community import Community
from chalicelib.domain.device_messages import DeviceMessage, Heartbeat
from chalicelib.domain.devices import Device, DeviceStatus, DeviceType, LastEvent
from chalicelib.domain.errors import BadInput, Conflict, DeviceAlreadyRegistered, DeviceUnknown, NotFound, PhoneTaken
from chalicelib.domain.rejects import Reject, RejectReason
from chalicelib.ports import (
    Communities,
    DeviceEventStore,
    Devices,
    OutboxEvent,
    Page,
    RecordOutcome,
    Rejects,
    Resident,
    Residents,
)
from tests.support.fakes import (
    NOW_MS,
    FakeClock,
    FakeCommunities,
    FakeDeviceEventStore,
    FakeDevices,
    FakeRejects,
    FakeResidents,
)

T = TypeVar("T")
CID, OTHER = "c_sunny", "c_other"


@dataclass
class Backend:
    name: str
    communities: Communities
    devices: Devices
    device_events: DeviceEventStore
    rejects: Rejects
    residents: Residents
    #: the domain events written with the changes, as (type, community id, key, data)
    outbox: Callable[[], list[OutboxEvent]]


def _dynamo_outbox() -> list[OutboxEvent]:
    return [OutboxEvent(type=item.event_type, community_id=item.community_id, key=item.pk.split("#", 2)[2],
                        data=item.data) for item in OutboxItem.scan()]


@pytest.fixture(params=["fake", "dynamo"])
def backend(request: pytest.FixtureRequest) -> Backend:
    clock = FakeClock()
    if request.param == "fake":
        devices = FakeDevices()
        return Backend("fake", FakeCommunities(), devices, FakeDeviceEventStore(devices), FakeRejects(),
                       FakeResidents(), lambda: list(devices.outbox))
    request.getfixturevalue("moto")
    return Backend("dynamo", DynamoCommunities(), DynamoDevices(), DynamoDeviceEventStore(dedupe_ttl_s=3600),
                   DynamoRejects(ttl_s=3600), DynamoResidents(clock), _dynamo_outbox)


def collect(fetch: Callable[[str | None], Page[T]], max_pages: int = 50) -> tuple[list[T], int]:
    """Every item of a paged listing, and how many pages it took."""
    items: list[T] = []
    cursor: str | None = None
    for pages in range(1, max_pages + 1):
        page = fetch(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items, pages
    raise AssertionError("the listing never ended")


def bad_input_code(call: Callable[[], Any]) -> str:
    with pytest.raises(BadInput) as caught:
        call()
    return caught.value.code


# ------------------------------------------------------------------------------------- communities


class TestCommunitiesContract:
    def test_an_added_community_is_read_back(self, backend: Backend) -> None:
        community = Community(community_id="c_1", name="Sunny Gardens 阳光花园", created_at_ms=NOW_MS)
        backend.communities.add(community)
        assert backend.communities.get("c_1") == community

    def test_an_unknown_community_is_none(self, backend: Backend) -> None:
        assert backend.communities.get("c_nope") is None

    def test_an_id_is_never_overwritten(self, backend: Backend) -> None:
        backend.communities.add(Community("c_1", "First", NOW_MS))
        with pytest.raises(Conflict):
            backend.communities.add(Community("c_1", "Second", NOW_MS + 1))
        assert backend.communities.get("c_1") == Community("c_1", "First", NOW_MS)

    def test_all_communities_are_listed_page_by_page_in_id_order(self, backend: Backend) -> None:
        ids = [f"c_{n:03d}" for n in (4, 1, 5, 2, 3)]
        for cid in ids:
            backend.communities.add(Community(cid, f"Community {cid}", NOW_MS))
        listed, pages = collect(lambda cursor: backend.communities.list_all(2, cursor))
        assert [c.community_id for c in listed] == sorted(ids)
        assert pages >= 3


# ----------------------------------------------------------------------------------------- devices


def device(thing_name: str = "bin-0001", community_id: str = CID,
           type_: DeviceType = DeviceType.RECYCLING_BIN) -> Device:
    return Device(thing_name=thing_name, community_id=community_id, type=type_, status=DeviceStatus.ACTIVE,
                  registered_at_ms=NOW_MS)


def registered(d: Device) -> OutboxEvent:
    return OutboxEvent(type="device.registered", community_id=d.community_id, key=d.thing_name,
                       data={"thing_name": d.thing_name, "type": d.type.value})


class TestDevicesContract:
    def test_a_registered_device_is_read_back_and_announced(self, backend: Backend) -> None:
        bin_ = device()
        backend.devices.register(bin_, registered(bin_))
        assert backend.devices.get("bin-0001") == bin_
        assert backend.outbox() == [registered(bin_)]

    def test_an_unknown_device_is_none(self, backend: Backend) -> None:
        assert backend.devices.get("bin-9999") is None

    def test_a_taken_thing_name_conflicts_and_changes_nothing(self, backend: Backend) -> None:
        first = device()
        backend.devices.register(first, registered(first))
        second = device(community_id=OTHER, type_=DeviceType.TRASH_BIN)
        with pytest.raises(DeviceAlreadyRegistered):
            backend.devices.register(second, registered(second))
        assert backend.devices.get("bin-0001") == first
        assert backend.outbox() == [registered(first)]

    def test_a_communitys_devices_are_listed_page_by_page_in_name_order(self, backend: Backend) -> None:
        names = ["bin-0003", "bin-0001", "meter-0001", "bin-0002", "door-0001"]
        for name in names:
            backend.devices.register(device(name), registered(device(name)))
        backend.devices.register(device("elsewhere", OTHER), registered(device("elsewhere", OTHER)))

        listed, pages = collect(lambda cursor: backend.devices.list_for_community(CID, 2, cursor))

        assert [d.thing_name for d in listed] == sorted(names)
        assert all(d == device(d.thing_name) for d in listed)
        assert pages >= 3
        assert [d.thing_name for d in backend.devices.list_for_community(OTHER, 10, None).items] == ["elsewhere"]
        assert backend.devices.list_for_community("c_empty", 10, None) == Page(items=[], next_cursor=None)

    def test_a_cursor_of_another_communitys_list_is_bad_input(self, backend: Backend) -> None:
        for name in ("a", "b", "c"):
            backend.devices.register(device(name, OTHER), registered(device(name, OTHER)))
        cursor = backend.devices.list_for_community(OTHER, 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.devices.list_for_community(CID, 1, cursor)) == "invalid_cursor"
        assert bad_input_code(lambda: backend.devices.list_for_community(CID, 1, "%%garbage%%")) == "invalid_cursor"

    def test_status_changes_are_kept(self, backend: Backend) -> None:
        backend.devices.register(device(), registered(device()))
        backend.devices.set_status("bin-0001", DeviceStatus.DISABLED)
        got = backend.devices.get("bin-0001")
        assert got is not None and got.status is DeviceStatus.DISABLED
        backend.devices.set_status("bin-0001", DeviceStatus.ACTIVE)
        assert backend.devices.get("bin-0001") == device()

    def test_the_status_of_an_unknown_device_cannot_be_set(self, backend: Backend) -> None:
        with pytest.raises(DeviceUnknown):
            backend.devices.set_status("bin-9999", DeviceStatus.DISABLED)
        assert backend.devices.get("bin-9999") is None


# ------------------------------------------------------------------------------ device event store


def message(event_id: str, received_at_ms: int, thing_name: str = "bin-0001", kind: str = "heartbeat",
            ts_ms: int | None = None) -> DeviceMessage:
    return DeviceMessage(community_id=CID, thing_name=thing_name, kind=kind, event_id=event_id,
                         ts_ms=received_at_ms - 100 if ts_ms is None else ts_ms, received_at_ms=received_at_ms,
                         client_id=thing_name, reading=Heartbeat())


class TestDeviceEventStoreContract:
    @pytest.fixture(autouse=True)
    def _bin(self, backend: Backend) -> None:
        backend.devices.register(device(), registered(device()))

    def test_load_returns_the_device_and_that_the_event_is_new(self, backend: Backend) -> None:
        assert backend.device_events.load("bin-0001", "e-1") == (device(), False)
        assert backend.device_events.load("bin-9999", "e-1") == (None, False)

    def test_a_recorded_event_is_seen_and_moves_the_device(self, backend: Backend) -> None:
        assert backend.device_events.record(message("e-1", NOW_MS + 500, ts_ms=NOW_MS), True) \
            is RecordOutcome.RECORDED

        loaded, seen = backend.device_events.load("bin-0001", "e-1")
        assert seen is True
        assert loaded is not None
        assert loaded.last_seen_ms == NOW_MS + 500
        assert loaded.last_event == LastEvent(kind="heartbeat", event_id="e-1", ts_ms=NOW_MS)
        assert backend.device_events.load("bin-0001", "e-2")[1] is False

    def test_recording_the_same_event_again_is_a_duplicate_that_changes_nothing(self, backend: Backend) -> None:
        backend.device_events.record(message("e-1", NOW_MS + 500), True)
        before = backend.devices.get("bin-0001")

        assert backend.device_events.record(message("e-1", NOW_MS + 9_000), True) is RecordOutcome.DUPLICATE
        assert backend.devices.get("bin-0001") == before

    def test_an_event_recorded_without_advancing_leaves_the_device_alone(self, backend: Backend) -> None:
        assert backend.device_events.record(message("e-1", NOW_MS + 500), False) is RecordOutcome.RECORDED
        assert backend.device_events.load("bin-0001", "e-1") == (device(), True)

    def test_last_seen_never_moves_back(self, backend: Backend) -> None:
        backend.device_events.record(message("newer", NOW_MS + 2_000), True)
        # an older message whose caller still thought it newest (a concurrent container)
        assert backend.device_events.record(message("older", NOW_MS + 1_000), True) is RecordOutcome.RECORDED
        # a message received in the same millisecond does not replace the last event either
        assert backend.device_events.record(message("same-ms", NOW_MS + 2_000), True) is RecordOutcome.RECORDED

        loaded, _ = backend.device_events.load("bin-0001", "older")
        assert loaded is not None
        assert loaded.last_seen_ms == NOW_MS + 2_000
        assert loaded.last_event is not None and loaded.last_event.event_id == "newer"
        assert backend.device_events.load("bin-0001", "older")[1] is True
        assert backend.device_events.load("bin-0001", "same-ms")[1] is True

    def test_an_event_of_a_device_that_is_gone_is_still_recorded_once(self, backend: Backend) -> None:
        assert backend.device_events.record(message("e-1", NOW_MS, thing_name="ghost"), True) \
            is RecordOutcome.RECORDED
        assert backend.device_events.load("ghost", "e-1") == (None, True)
        assert backend.devices.get("ghost") is None
        assert backend.device_events.record(message("e-1", NOW_MS, thing_name="ghost"), True) \
            is RecordOutcome.DUPLICATE


# ----------------------------------------------------------------------------------------- rejects


def reject(at: int, community_id: str = CID, payload: str = '{"weight_g": 0}', **changes: Any) -> Reject:
    fields: dict[str, Any] = {
        "community_id": community_id, "thing_name": "bin-0001", "kind": "weighin",
        "reason": RejectReason.IMPLAUSIBLE_VALUE, "detail": "weight_g must be positive, got 0",
        "received_at_ms": at, "payload": payload, "topic": f"dt/linli/{community_id}/bin-0001/weighin",
        "client_id": "bin-0001", "event_id": "e-1", **changes,
    }
    return Reject(**fields)


class TestRejectsContract:
    def test_a_reject_is_listed_with_everything_staff_need(self, backend: Backend) -> None:
        added = reject(NOW_MS)
        backend.rejects.add(added)
        assert backend.rejects.list_for_community(CID, 10, None).items == [added]

    def test_optional_fields_may_be_missing(self, backend: Backend) -> None:
        added = reject(NOW_MS, client_id=None, event_id=None, kind="", payload="")
        backend.rejects.add(added)
        assert backend.rejects.list_for_community(CID, 10, None).items == [added]

    def test_rejects_are_listed_newest_first_page_by_page(self, backend: Backend) -> None:
        times = [NOW_MS + n for n in (3, 0, 4, 1, 2)]
        for at in times:
            backend.rejects.add(reject(at, payload=f'{{"n": {at}}}'))
        backend.rejects.add(reject(NOW_MS + 10, community_id=OTHER))

        listed, pages = collect(lambda cursor: backend.rejects.list_for_community(CID, 2, cursor))

        assert [r.received_at_ms for r in listed] == sorted(times, reverse=True)
        assert pages >= 3
        assert [r.community_id for r in backend.rejects.list_for_community(OTHER, 10, None).items] == [OTHER]

    def test_the_same_message_rejected_twice_is_one_record(self, backend: Backend) -> None:
        backend.rejects.add(reject(NOW_MS))
        backend.rejects.add(reject(NOW_MS))
        assert len(backend.rejects.list_for_community(CID, 10, None).items) == 1

    def test_different_messages_in_the_same_millisecond_are_both_kept(self, backend: Backend) -> None:
        backend.rejects.add(reject(NOW_MS, payload='{"a": 1}'))
        backend.rejects.add(reject(NOW_MS, payload='{"b": 2}'))
        assert len(backend.rejects.list_for_community(CID, 10, None).items) == 2

    def test_a_cursor_of_another_community_is_bad_input(self, backend: Backend) -> None:
        for n in range(3):
            backend.rejects.add(reject(NOW_MS + n, community_id=OTHER))
        cursor = backend.rejects.list_for_community(OTHER, 1, None).next_cursor
        assert cursor is not None
        assert bad_input_code(lambda: backend.rejects.list_for_community(CID, 1, cursor)) == "invalid_cursor"
        assert bad_input_code(lambda: backend.rejects.list_for_community(CID, 1, "bm90IGEgY3Vyc29y")) \
            == "invalid_cursor"


# --------------------------------------------------------------------------------------- residents


def resident(rid: str = "r_alice", created_at_ms: int = NOW_MS) -> Resident:
    return Resident(resident_id=rid, openid=f"openid-of-{rid}", created_at_ms=created_at_ms)


class TestResidentsContract:
    def test_first_login_creates_the_resident(self, backend: Backend) -> None:
        assert backend.residents.login(resident(), "session-1") == resident()
        assert backend.residents.get("r_alice") == resident()
        assert backend.residents.get("r_bob") is None

    def test_logging_in_again_keeps_the_resident_as_created(self, backend: Backend) -> None:
        backend.residents.login(resident(), "session-1")
        again = backend.residents.login(resident(created_at_ms=NOW_MS + 86_400_000), "session-2")
        assert again == resident()
        assert backend.residents.get("r_alice") == resident()

    def test_a_bound_phone_is_kept_as_hash_and_mask_and_survives_login(self, backend: Backend) -> None:
        backend.residents.login(resident(), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        expected = Resident("r_alice", "openid-of-r_alice", NOW_MS, phone_masked="138****8000",
                            phone_key="hash-of-138")
        assert backend.residents.get("r_alice") == expected
        assert backend.residents.login(resident(), "s2") == expected

    def test_a_phone_another_resident_holds_is_taken(self, backend: Backend) -> None:
        for rid in ("r_alice", "r_bob"):
            backend.residents.login(resident(rid), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        with pytest.raises(PhoneTaken):
            backend.residents.bind_phone("r_bob", "hash-of-138", "138****8000")
        bob = backend.residents.get("r_bob")
        assert bob is not None and bob.phone_key is None
        alice = backend.residents.get("r_alice")
        assert alice is not None and alice.phone_key == "hash-of-138"

    def test_binding_the_same_phone_again_is_fine(self, backend: Backend) -> None:
        backend.residents.login(resident(), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        alice = backend.residents.get("r_alice")
        assert alice is not None and alice.phone_key == "hash-of-138"

    def test_rebinding_moves_the_phone_and_frees_the_old_one(self, backend: Backend) -> None:
        for rid in ("r_alice", "r_bob"):
            backend.residents.login(resident(rid), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        backend.residents.bind_phone("r_alice", "hash-of-139", "139****9000")

        backend.residents.bind_phone("r_bob", "hash-of-138", "138****8000")

        alice, bob = backend.residents.get("r_alice"), backend.residents.get("r_bob")
        assert alice is not None and (alice.phone_key, alice.phone_masked) == ("hash-of-139", "139****9000")
        assert bob is not None and bob.phone_key == "hash-of-138"

    def test_a_resident_with_a_phone_cannot_take_another_residents_phone(self, backend: Backend) -> None:
        for rid in ("r_alice", "r_bob"):
            backend.residents.login(resident(rid), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")
        backend.residents.bind_phone("r_bob", "hash-of-139", "139****9000")

        with pytest.raises(PhoneTaken):
            backend.residents.bind_phone("r_bob", "hash-of-138", "138****8000")

        alice, bob = backend.residents.get("r_alice"), backend.residents.get("r_bob")
        assert alice is not None and alice.phone_key == "hash-of-138"
        assert bob is not None and (bob.phone_key, bob.phone_masked) == ("hash-of-139", "139****9000")

    def test_an_unknown_resident_cannot_bind_a_phone(self, backend: Backend) -> None:
        with pytest.raises(NotFound):
            backend.residents.bind_phone("r_ghost", "hash-of-138", "138****8000")
        backend.residents.login(resident(), "s")
        backend.residents.bind_phone("r_alice", "hash-of-138", "138****8000")  # the phone was not claimed
