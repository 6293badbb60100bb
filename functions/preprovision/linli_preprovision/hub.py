"""The hub table as this function sees it: the one place outside chalicelib that knows its layout.

chalicelib owns the layout (``adapters/dynamo/keys.device`` and ``models.DeviceItem``); this copy of the
device item's key and attribute names is kept in step by tests/integration/test_preprovision.py, which
registers devices through chalicelib and reads them back here (and the certificate recorded here back
through chalicelib).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linli_preprovision.rules import ACTIVE, Registered

#: the environment variable naming the hub table (infra/template.yaml sets it for every function)
TABLE_ENV = "LINLI_HUB_TABLE"

# attribute names of a device item (THING#{thing} / DEVICE)
THING_NAME = "thing_name"
COMMUNITY_ID = "community_id"
DEVICE_TYPE = "device_type"
STATUS = "status"
SERIAL = "serial"
CERTIFICATE_ID = "provision_cert_id"
PROVISIONED_AT_MS = "provisioned_at_ms"
#: what the hook reads of a device (one GetItem)
PROJECTION = (THING_NAME, COMMUNITY_ID, DEVICE_TYPE, STATUS, SERIAL, CERTIFICATE_ID)

Item = Mapping[str, Mapping[str, Any]]


def device_key(thing_name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"THING#{thing_name}"}, "sk": {"S": "DEVICE"}}


def get_device_request(table: str, thing_name: str) -> dict[str, Any]:
    """GetItem arguments: the device, strongly consistent (staff may have disabled it a moment ago)."""
    names = {f"#a{n}": name for n, name in enumerate(PROJECTION)}
    return {"TableName": table, "Key": device_key(thing_name), "ConsistentRead": True,
            "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def registered(item: Item | None) -> Registered | None:
    """The device in a GetItem answer's ``Item`` (None when there is none)."""
    if not item:
        return None
    return Registered(thing_name=_s(item, THING_NAME) or "", community_id=_s(item, COMMUNITY_ID) or "",
                      device_type=_s(item, DEVICE_TYPE) or "", status=_s(item, STATUS) or "",
                      serial=_s(item, SERIAL), certificate_id=_s(item, CERTIFICATE_ID))


def record_certificate_request(table: str, thing_name: str, certificate_id: str, now_ms: int) -> dict[str, Any]:
    """UpdateItem arguments recording the accepted certificate: only while the device is enabled and no
    other certificate was recorded meanwhile; the time of the first acceptance is kept (idempotent)."""
    return {
        "TableName": table,
        "Key": device_key(thing_name),
        "UpdateExpression": "SET #cert = :cert, #at = if_not_exists(#at, :now)",
        "ConditionExpression": "attribute_exists(pk) AND #status = :active "
                               "AND (attribute_not_exists(#cert) OR #cert = :cert)",
        "ExpressionAttributeNames": {"#cert": CERTIFICATE_ID, "#at": PROVISIONED_AT_MS, "#status": STATUS},
        "ExpressionAttributeValues": {":cert": {"S": certificate_id}, ":now": {"N": str(now_ms)},
                                      ":active": {"S": ACTIVE}},
    }


def _s(item: Item, name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None
