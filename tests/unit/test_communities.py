"""Staff set up communities and their devices (services/communities.py with fakes)."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.community import MAX_NAME_LENGTH, Community
from chalicelib.domain.devices import Device, DeviceStatus, DeviceType
from chalicelib.domain.errors import BadInput, CommunityUnknown, DeviceAlreadyRegistered, DeviceUnknown
from chalicelib.domain.rejects import Reject, RejectReason
from chalicelib.ports import OutboxEvent
from chalicelib.services import communities
from tests.support.fakes import NOW_MS, Fakes


@pytest.fixture
def cid(fakes: Fakes) -> str:
    return communities.create_community(fakes.deps, "Sunny Gardens").community_id


def test_a_community_is_created_with_an_id_and_the_time(fakes: Fakes) -> None:
    community = communities.create_community(fakes.deps, "Sunny Gardens 阳光花园")
    assert community == Community(community_id=community.community_id, name="Sunny Gardens 阳光花园",
                                  created_at_ms=NOW_MS)
    assert community.community_id.startswith("c_")
    assert fakes.communities.get(community.community_id) == community


def test_each_community_gets_its_own_id(fakes: Fakes) -> None:
    a = communities.create_community(fakes.deps, "A")
    b = communities.create_community(fakes.deps, "A")
    assert a.community_id != b.community_id


def test_a_community_name_is_trimmed(fakes: Fakes) -> None:
    assert communities.create_community(fakes.deps, "  Sunny Gardens \n").name == "Sunny Gardens"


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * (MAX_NAME_LENGTH + 1)])
def test_a_blank_or_overlong_name_is_refused(fakes: Fakes, name: str) -> None:
    with pytest.raises(BadInput) as caught:
        communities.create_community(fakes.deps, name)
    assert caught.value.code == "invalid_name"
    assert fakes.communities.items == {}


def test_a_name_of_the_maximum_length_is_fine(fakes: Fakes) -> None:
    assert communities.create_community(fakes.deps, "x" * MAX_NAME_LENGTH).name == "x" * MAX_NAME_LENGTH


def test_an_unknown_community_is_not_found(fakes: Fakes) -> None:
    with pytest.raises(CommunityUnknown):
        communities.require_community(fakes.deps, "c_nope")


# ----------------------------------------------------------------------------------------- devices


def test_registering_a_device_makes_it_active_and_announces_it(fakes: Fakes, cid: str) -> None:
    device = communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin")

    assert device == Device(thing_name="bin-0001", community_id=cid, type=DeviceType.RECYCLING_BIN,
                            status=DeviceStatus.ACTIVE, registered_at_ms=NOW_MS)
    assert fakes.devices.get("bin-0001") == device
    assert fakes.devices.outbox == [OutboxEvent(type="device.registered", community_id=cid, key="bin-0001",
                                                data={"thing_name": "bin-0001", "type": "recycling_bin"})]


@pytest.mark.parametrize("type_", [t.value for t in DeviceType])
def test_every_device_type_can_be_registered(fakes: Fakes, cid: str, type_: str) -> None:
    assert communities.register_device(fakes.deps, cid, f"{type_}-1", type_).type.value == type_


@pytest.mark.parametrize("thing_name", ["", "bin/0001", "bin+", "bin#", "bin 1", "水表", "x" * 129,
                                        "dt/linli/c/t/weighin", "bin-0001\n", "bin-٠١"])
def test_a_thing_name_that_is_not_an_iot_thing_name_is_refused(fakes: Fakes, cid: str, thing_name: str) -> None:
    with pytest.raises(BadInput) as caught:
        communities.register_device(fakes.deps, cid, thing_name, "recycling_bin")
    assert caught.value.code == "invalid_thing_name"
    assert fakes.devices.items == {}
    assert fakes.devices.outbox == []


@pytest.mark.parametrize("thing_name", ["a", "Bin_01:east-2", "x" * 128])
def test_iot_thing_names_are_accepted(fakes: Fakes, cid: str, thing_name: str) -> None:
    assert communities.register_device(fakes.deps, cid, thing_name, "door").thing_name == thing_name


@pytest.mark.parametrize("type_", ["toaster", "", "Recycling_Bin", "recycling bin"])
def test_an_unknown_device_type_is_refused(fakes: Fakes, cid: str, type_: str) -> None:
    with pytest.raises(BadInput) as caught:
        communities.register_device(fakes.deps, cid, "bin-0001", type_)
    assert caught.value.code == "invalid_device_type"
    assert fakes.devices.items == {}


def test_a_device_cannot_join_an_unknown_community(fakes: Fakes) -> None:
    with pytest.raises(CommunityUnknown):
        communities.register_device(fakes.deps, "c_nope", "bin-0001", "recycling_bin")
    assert fakes.devices.items == {}
    assert fakes.devices.outbox == []


def test_a_taken_thing_name_is_a_conflict_in_any_community(fakes: Fakes, cid: str) -> None:
    other = communities.create_community(fakes.deps, "Other").community_id
    first = communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin")

    for community_id in (cid, other):
        with pytest.raises(DeviceAlreadyRegistered):
            communities.register_device(fakes.deps, community_id, "bin-0001", "trash_bin")

    assert fakes.devices.get("bin-0001") == first
    assert len(fakes.devices.outbox) == 1


def test_devices_are_listed_page_by_page_in_name_order(fakes: Fakes, cid: str) -> None:
    names = [f"bin-{n:04d}" for n in (5, 3, 1, 4, 2)]
    for name in names:
        communities.register_device(fakes.deps, cid, name, "recycling_bin")
    other = communities.create_community(fakes.deps, "Other").community_id
    communities.register_device(fakes.deps, other, "bin-0000", "recycling_bin")

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = communities.list_devices(fakes.deps, cid, 2, cursor)
        assert len(page.items) <= 2
        seen += [d.thing_name for d in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(names)
    assert pages >= 3


def test_a_cursor_of_another_community_is_bad_input(fakes: Fakes, cid: str) -> None:
    other = communities.create_community(fakes.deps, "Other").community_id
    for n in range(3):
        communities.register_device(fakes.deps, other, f"bin-{n}", "recycling_bin")
    cursor = communities.list_devices(fakes.deps, other, 1, None).next_cursor
    with pytest.raises(BadInput) as caught:
        communities.list_devices(fakes.deps, cid, 1, cursor)
    assert caught.value.code == "invalid_cursor"


def test_listing_devices_of_an_unknown_community_is_not_found(fakes: Fakes) -> None:
    with pytest.raises(CommunityUnknown):
        communities.list_devices(fakes.deps, "c_nope", 10, None)


def test_a_disabled_device_says_so(fakes: Fakes, cid: str) -> None:
    communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin")

    disabled = communities.set_device_status(fakes.deps, cid, "bin-0001", DeviceStatus.DISABLED)

    assert disabled.status is DeviceStatus.DISABLED
    assert communities.community_device(fakes.deps, cid, "bin-0001").status is DeviceStatus.DISABLED
    enabled = communities.set_device_status(fakes.deps, cid, "bin-0001", DeviceStatus.ACTIVE)
    assert enabled.status is DeviceStatus.ACTIVE
    assert fakes.devices.get("bin-0001") == enabled


def test_another_communitys_device_is_as_unknown_as_a_missing_one(fakes: Fakes, cid: str) -> None:
    other = communities.create_community(fakes.deps, "Other").community_id
    communities.register_device(fakes.deps, other, "their-bin", "recycling_bin")

    with pytest.raises(DeviceUnknown):
        communities.community_device(fakes.deps, cid, "their-bin")
    with pytest.raises(DeviceUnknown):
        communities.set_device_status(fakes.deps, cid, "their-bin", DeviceStatus.DISABLED)
    with pytest.raises(DeviceUnknown):
        communities.community_device(fakes.deps, cid, "no-such-bin")
    assert fakes.devices.get("their-bin") is not None
    assert fakes.devices.items["their-bin"].status is DeviceStatus.ACTIVE


def test_provisioning_makes_the_device_an_iot_thing_idempotently(fakes: Fakes) -> None:
    communities.provision_thing(fakes.deps, "bin-0001", "c_1", "recycling_bin")
    communities.provision_thing(fakes.deps, "bin-0001", "c_1", "recycling_bin")
    assert fakes.things.things == {"bin-0001": {"community_id": "c_1", "device_type": "recycling_bin"}}


def test_rejects_are_listed_per_community_newest_first(fakes: Fakes, cid: str) -> None:
    def reject(community_id: str, at: int) -> Reject:
        return Reject(community_id=community_id, thing_name="bin-0001", kind="weighin",
                      reason=RejectReason.UNKNOWN_DEVICE, detail="no such device", received_at_ms=at,
                      payload=f'{{"at": {at}}}', topic=f"dt/linli/{community_id}/bin-0001/weighin")

    for at in (NOW_MS + 2, NOW_MS, NOW_MS + 1):
        fakes.rejects.add(reject(cid, at))
    fakes.rejects.add(reject("c_elsewhere", NOW_MS + 5))

    page = communities.list_rejects(fakes.deps, cid, 10, None)
    assert [r.received_at_ms for r in page.items] == [NOW_MS + 2, NOW_MS + 1, NOW_MS]
    with pytest.raises(CommunityUnknown):
        communities.list_rejects(fakes.deps, "c_elsewhere", 10, None)


# ------------------------------------------------------------- serials and fleet provisioning (issue: ship it)


def test_a_device_can_be_pre_registered_with_its_serial(fakes: Fakes, cid: str) -> None:
    device = communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin", serial="SN-RB.2025:0001")
    assert device.serial == "SN-RB.2025:0001"
    assert (device.certificate_id, device.provisioned_at_ms) == (None, None)
    assert fakes.devices.get("bin-0001") == device


@pytest.mark.parametrize("serial", ["", "SN 1", "SN/1", "SN#1", "序列号", "x" * 65, "SN-1\n"])
def test_a_serial_that_could_not_be_a_thing_attribute_is_refused(fakes: Fakes, cid: str, serial: str) -> None:
    with pytest.raises(BadInput) as caught:
        communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin", serial=serial)
    assert caught.value.code == "invalid_serial"
    assert fakes.devices.items == {}


def test_allowing_reprovisioning_forgets_the_certificate_and_names_it(fakes: Fakes, cid: str) -> None:
    communities.register_device(fakes.deps, cid, "bin-0001", "recycling_bin", serial="SN-1")
    fakes.devices.items["bin-0001"] = dataclasses.replace(fakes.devices.items["bin-0001"], certificate_id="a" * 64,
                                                          provisioned_at_ms=NOW_MS)

    device, previous = communities.allow_reprovisioning(fakes.deps, cid, "bin-0001")

    assert previous == "a" * 64
    assert (device.certificate_id, device.provisioned_at_ms, device.serial) == (None, None, "SN-1")
    assert fakes.devices.get("bin-0001") == device


def test_only_the_own_communitys_device_can_be_reprovisioned(fakes: Fakes, cid: str) -> None:
    other = communities.create_community(fakes.deps, "Other").community_id
    communities.register_device(fakes.deps, other, "their-bin", "recycling_bin", serial="SN-1")
    with pytest.raises(DeviceUnknown):
        communities.allow_reprovisioning(fakes.deps, cid, "their-bin")
    with pytest.raises(DeviceUnknown):
        communities.allow_reprovisioning(fakes.deps, cid, "no-such-bin")
