"""Who may provision: pure decisions over the hook's event and the device staff registered (no I/O).

The device sends ``ThingName``, ``SerialNumber`` and ``CommunityId`` in its RegisterThing parameters;
it is allowed only if staff registered that thing name in that community with that serial, the device
is not disabled, and no other certificate was accepted for it before (docs/decisions.md 41).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the RegisterThing parameters the device must send, and the provisioning template declares
THING_NAME_PARAM = "ThingName"
SERIAL_PARAM = "SerialNumber"
COMMUNITY_PARAM = "CommunityId"
#: a parameter only the hook supplies (an override), for the thing's ``device_type`` attribute
DEVICE_TYPE_PARAM = "DeviceType"
REQUIRED_PARAMETERS = (THING_NAME_PARAM, SERIAL_PARAM, COMMUNITY_PARAM)

# The same formats chalicelib accepts at registration (tests/unit/test_preprovision.py compares them).
THING_NAME = re.compile(r"[A-Za-z0-9:_-]{1,128}")
SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}")
COMMUNITY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: IoT certificate ids are 64 hex digits
CERTIFICATE_ID = re.compile(r"[0-9a-f]{64}")
_FORMATS = {THING_NAME_PARAM: THING_NAME, SERIAL_PARAM: SERIAL, COMMUNITY_PARAM: COMMUNITY_ID}

ACTIVE = "active"


@dataclass(frozen=True)
class Request:
    """What a device asks for (the fields of the hook's event that matter)."""

    thing_name: str
    serial: str
    community_id: str
    certificate_id: str
    claim_certificate_id: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class Registered:
    """The device as staff registered it, and the certificate provisioning accepted for it, if any."""

    thing_name: str
    community_id: str
    device_type: str
    status: str
    serial: str | None = None
    certificate_id: str | None = None


@dataclass(frozen=True)
class Decision:
    allow: bool
    #: a snake_case reason, logged (the device itself only learns that it was refused)
    reason: str
    detail: str = ""
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: the hook must record the certificate (the first one accepted for this device)
    record: bool = False

    def response(self) -> dict[str, Any]:
        """The hook's answer to IoT Core (payload version 2020-04-01)."""
        return {"allowProvisioning": self.allow, "parameterOverrides": dict(self.overrides) if self.allow else {}}


def deny(reason: str, detail: str = "") -> Decision:
    return Decision(allow=False, reason=reason, detail=detail)


def parse_request(event: Any) -> Request | Decision:
    """The request in the hook's event, or the refusal of a malformed one."""
    if not isinstance(event, Mapping):
        return deny("malformed_event", "the event is not an object")
    certificate_id = event.get("certificateId")
    if not isinstance(certificate_id, str) or not CERTIFICATE_ID.fullmatch(certificate_id):
        return deny("malformed_event", "certificateId is missing or not a certificate id")
    parameters = event.get("parameters")
    if not isinstance(parameters, Mapping):
        return deny("missing_parameter", ", ".join(REQUIRED_PARAMETERS))
    values: dict[str, str] = {}
    for name in REQUIRED_PARAMETERS:
        value = parameters.get(name)
        if value is None or value == "":
            return deny("missing_parameter", name)
        if not isinstance(value, str) or not _FORMATS[name].fullmatch(value):
            return deny("invalid_parameter", name)
        values[name] = value
    return Request(thing_name=values[THING_NAME_PARAM], serial=values[SERIAL_PARAM],
                   community_id=values[COMMUNITY_PARAM], certificate_id=certificate_id,
                   claim_certificate_id=_optional_str(event.get("claimCertificateId")),
                   client_id=_optional_str(event.get("clientId")))


def decide(request: Request, device: Registered | None) -> Decision:
    """Allow only a pre-registered, enabled device whose serial and community match, and only with the
    certificate first accepted for it (the same certificate again is a device retrying: allowed)."""
    if device is None:
        return deny("unknown_device")
    if device.community_id != request.community_id:
        return deny("community_mismatch")
    if device.serial is None:
        return deny("no_serial_registered", "register the device with its serial to let it provision")
    if not hmac.compare_digest(device.serial.encode(), request.serial.encode()):
        return deny("serial_mismatch")
    if device.status != ACTIVE:
        return deny("device_disabled", device.status)
    if device.certificate_id is not None and device.certificate_id != request.certificate_id:
        return deny("provisioned_with_other_certificate", device.certificate_id)
    overrides = {THING_NAME_PARAM: device.thing_name, COMMUNITY_PARAM: device.community_id,
                 DEVICE_TYPE_PARAM: device.device_type}
    if device.certificate_id is None:
        return Decision(allow=True, reason="first_certificate", overrides=overrides, record=True)
    return Decision(allow=True, reason="same_certificate_again", overrides=overrides)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
