"""Doors: the access log, the repeated-refusal alarm, visitor passes and door device credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chalicelib.domain import doors as rules
from chalicelib.domain.alarms import AlarmSpec, Severity
from chalicelib.domain.device_messages import Access, DeviceMessage
from chalicelib.domain.devices import Device, DeviceType
from chalicelib.domain.doors import AccessEntry, PassGone, PassStatus, PassUnknown, VisitorPass
from chalicelib.domain.errors import BadInput, DeviceUnknown, DomainError, Forbidden, NotFound
from chalicelib.domain.identity import Principal, Role, issue_token
from chalicelib.ports import Page
from chalicelib.services import alarms
from chalicelib.services.cached_settings import community_settings
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident

DENIED = "denied"


def denied_key(thing_name: str, door: str) -> str:
    return f"door_denied:{thing_name}:{door}"


def record_access(deps: Deps, message: DeviceMessage, device: Device) -> None:
    """The ``access`` effect: log it; a burst of refusals at the door raises (or updates) one alarm."""
    reading = message.reading
    assert isinstance(reading, Access)
    deps.doors.log_access(AccessEntry(community_id=message.community_id, door=reading.door,
                                      thing_name=message.thing_name, event_id=message.event_id,
                                      ts_ms=message.ts_ms, result=reading.result, method=reading.method))
    if reading.result != DENIED:
        return
    settings = community_settings(deps, message.community_id)
    window_ms = settings.door_denied_window_s * 1000
    refusals = deps.doors.refusals(message.community_id, reading.door, message.ts_ms - window_ms,
                                   message.ts_ms + window_ms)
    if not rules.denied_burst(refusals, settings.door_denied_limit, window_ms):
        return
    key = denied_key(message.thing_name, reading.door)
    current = deps.alarms.current(message.community_id, key)
    if current is not None and current.detail.get("last_event_id") == message.event_id:
        return  # this refusal was counted before (the message is being redelivered)
    where = device.location or reading.door
    alarms.raise_alarm(deps, AlarmSpec(
        community_id=message.community_id, kind="door_denied", dedup_key=key, severity=Severity.WARNING,
        title=f"{where} 门禁多次拒绝 (repeated refusals at the door)", subject=reading.door,
        detail={"door": reading.door, "thing_name": message.thing_name, "location": device.location,
                "denied_in_window": len({event_id for _, event_id in refusals}),
                "window_s": settings.door_denied_window_s, "last_event_id": message.event_id}))


def access_log(deps: Deps, community_id: str, door: str, limit: int, cursor: str | None) -> Page[AccessEntry]:
    return deps.doors.access_log(community_id, rules.check_door(door), limit, cursor)


# ------------------------------------------------------------------------------------------ visitor passes


@dataclass(frozen=True)
class IssuedPass:
    visitor_pass: VisitorPass
    code: str  # shown once; only its hash is stored


def create_pass(deps: Deps, principal: Principal, visitor_name: str | None, valid_from: str | None,
                valid_until: str) -> IssuedPass:
    resident = current_resident(deps, principal)
    if not (resident.community_id and resident.building and resident.room):
        raise DomainError("set your residence before inviting visitors", code="no_residence")
    now = deps.clock.now_ms()
    start, end = rules.pass_window(valid_from, valid_until, now)
    code = secrets.token_urlsafe(rules.CODE_BYTES)
    visitor_pass = VisitorPass(pass_id=deps.ids.new_id("vp"), community_id=resident.community_id,
                               resident_id=resident.resident_id, building=resident.building, room=resident.room,
                               code_hash=rules.hash_code(code), valid_from_ms=start, valid_until_ms=end,
                               created_at_ms=now, visitor_name=rules.check_visitor_name(visitor_name))
    deps.doors.add_pass(visitor_pass)
    return IssuedPass(visitor_pass, code)


def list_passes(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[VisitorPass]:
    return deps.doors.passes_of(principal.subject, limit, cursor)


def revoke_pass(deps: Deps, principal: Principal, pass_id: str) -> VisitorPass:
    found = deps.doors.get_pass(pass_id)
    if found is None or found.resident_id != principal.subject:
        raise NotFound("visitor pass not found", code="pass_not_found")
    if found.revoked_at_ms is None:
        deps.doors.revoke_pass(pass_id, deps.clock.now_ms())
    revoked = deps.doors.get_pass(pass_id)
    assert revoked is not None
    return revoked


def _door_device(deps: Deps, principal: Principal) -> Device:
    device = deps.devices.get(principal.subject)
    if (device is None or device.community_id != principal.community_id or not device.is_active
            or device.type is not DeviceType.DOOR):
        raise Forbidden("only an active door of the community may check passes", code="not_a_door")
    return device


def validate_pass(deps: Deps, principal: Principal, code: str, door: str | None) -> VisitorPass:
    """A door scanned a pass: valid now and for this community, or 404 / 410. A pass that opens the door
    is logged at the door (method qr) and counted on the pass."""
    device = _door_device(deps, principal)
    found = deps.doors.pass_by_code(rules.hash_code(code)) if 1 <= len(code) <= 128 else None
    if found is None or found.community_id != device.community_id:
        raise PassUnknown("no such visitor pass")
    now = deps.clock.now_ms()
    status = found.status(now)
    if status in (PassStatus.EXPIRED, PassStatus.REVOKED):
        raise PassGone(f"the visitor pass is {status.value}")
    if status is PassStatus.NOT_YET_VALID:
        raise DomainError("the visitor pass is not valid yet", code="pass_not_yet_valid")
    where = rules.check_door(door or device.location or device.thing_name)
    deps.doors.pass_used(found.pass_id, AccessEntry(
        community_id=device.community_id, door=where, thing_name=device.thing_name,
        event_id=deps.ids.new_id("pv"), ts_ms=now, result="granted", method="qr", pass_id=found.pass_id))
    return found


def issue_device_token(deps: Deps, community_id: str, thing_name: str) -> str:
    """A bearer token for a door device (role device, subject = thing name); shown once, not stored."""
    device = deps.devices.get(thing_name)
    if device is None or device.community_id != community_id:
        raise DeviceUnknown(f"no device {thing_name!r} in this community")
    if device.type is not DeviceType.DOOR:
        raise BadInput("only door devices get credentials", code="not_a_door")
    keys = deps.secrets.app_secrets()
    principal = Principal(role=Role.DEVICE, subject=thing_name, community_id=community_id)
    return issue_token(keys.token_keys[keys.current_kid], keys.current_kid, principal, deps.clock.now_ms() // 1000,
                       rules.DEVICE_TOKEN_TTL_S)
