"""Staff set up communities and their devices."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.community import MAX_NAME_LENGTH, Community
from chalicelib.domain.devices import SERIAL, THING_NAME, Device, DeviceStatus, DeviceType
from chalicelib.domain.errors import BadInput, CommunityUnknown, DeviceUnknown
from chalicelib.domain.rejects import Reject
from chalicelib.ports import OutboxEvent, Page
from chalicelib.services.deps import Deps


def create_community(deps: Deps, name: str) -> Community:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise BadInput(f"name must be 1–{MAX_NAME_LENGTH} characters", code="invalid_name")
    community = Community(community_id=deps.ids.new_id("c"), name=name, created_at_ms=deps.clock.now_ms())
    deps.communities.add(community)
    return community


def require_community(deps: Deps, community_id: str) -> Community:
    community = deps.communities.get(community_id)
    if community is None:
        raise CommunityUnknown(f"no community {community_id!r}")
    return community


def register_device(deps: Deps, community_id: str, thing_name: str, device_type: str,
                    building: str | None = None, room: str | None = None, location: str | None = None,
                    serial: str | None = None) -> Device:
    """Register (or pre-register, before installation) a device. With a manufacturer ``serial`` the
    device may later provision its own certificate through fleet provisioning (functions/preprovision)."""
    require_community(deps, community_id)
    if (building is None) != (room is None):
        raise BadInput("give both building and room (a household's device) or neither", code="invalid_location")
    if not THING_NAME.fullmatch(thing_name):
        raise BadInput("thing_name must be 1–128 letters, digits, ':', '_' or '-'", code="invalid_thing_name")
    if serial is not None and not SERIAL.fullmatch(serial):
        raise BadInput("serial must be 1–64 letters, digits, '.', ':', '_' or '-'", code="invalid_serial")
    try:
        kind = DeviceType(device_type)
    except ValueError as exc:
        raise BadInput(f"type must be one of {[t.value for t in DeviceType]}", code="invalid_device_type") from exc
    device = Device(thing_name=thing_name, community_id=community_id, type=kind,
                    status=DeviceStatus.ACTIVE, registered_at_ms=deps.clock.now_ms(), building=building, room=room,
                    location=location, serial=serial)
    deps.devices.register(device, OutboxEvent(
        type="device.registered", community_id=community_id, key=thing_name,
        data={"thing_name": thing_name, "type": kind.value}))
    return device


def community_device(deps: Deps, community_id: str, thing_name: str) -> Device:
    """A device of this community; another community's device is as unknown as a missing one."""
    require_community(deps, community_id)
    device = deps.devices.get(thing_name)
    if device is None or device.community_id != community_id:
        raise DeviceUnknown(f"no device {thing_name!r} in community {community_id!r}")
    return device


def list_devices(deps: Deps, community_id: str, limit: int, cursor: str | None) -> Page[Device]:
    require_community(deps, community_id)
    return deps.devices.list_for_community(community_id, limit, cursor)


def set_device_status(deps: Deps, community_id: str, thing_name: str, status: DeviceStatus) -> Device:
    device = community_device(deps, community_id, thing_name)
    deps.devices.set_status(thing_name, status)
    return dataclasses.replace(device, status=status)


def allow_reprovisioning(deps: Deps, community_id: str, thing_name: str) -> tuple[Device, str | None]:
    """Forget the certificate fleet provisioning accepted for this device, so its replacement (a new
    board, a lost key) may provision once more; answers the device and the certificate it had, which
    the operator should revoke in IoT Core (docs/decisions.md 41)."""
    device = community_device(deps, community_id, thing_name)
    deps.devices.clear_provisioning(thing_name)
    return dataclasses.replace(device, certificate_id=None, provisioned_at_ms=None), device.certificate_id


def provision_thing(deps: Deps, thing_name: str, community_id: str, device_type: str) -> None:
    """Make the registered device a thing IoT Core lets connect (run from the outbox stream)."""
    deps.things.ensure_thing(thing_name, community_id, device_type)


def list_rejects(deps: Deps, community_id: str, limit: int, cursor: str | None) -> Page[Reject]:
    require_community(deps, community_id)
    return deps.rejects.list_for_community(community_id, limit, cursor)
