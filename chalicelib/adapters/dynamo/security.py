"""Home security states (one item per household), and the device-offline mark on a device's item."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.dynamo.models import DeviceItem, HubItem
from chalicelib.adapters.dynamo.security_models import (
    ENTRY_DUE,
    HomeSecurityItem,
    home_security_key,
    offline_devices,
)
from chalicelib.adapters.dynamo.txn import condition_failed
from chalicelib.domain.devices import Device
from chalicelib.domain.security import HomeSecurity, SecurityMode
from chalicelib.ports import SaveOutcome


def to_home(item: HomeSecurityItem) -> HomeSecurity:
    data: dict[str, Any] = dict(item.data)
    data["mode"] = SecurityMode(data["mode"])
    return HomeSecurity(**data)


class DynamoHomeSecurityBook:
    def get(self, community_id: str, household: str) -> HomeSecurity | None:
        pk, sk = home_security_key(community_id, household)
        try:
            return to_home(HomeSecurityItem.get(pk, sk, consistent_read=True))
        except HomeSecurityItem.DoesNotExist:
            return None

    def save(self, home: HomeSecurity, expected_version: int | None) -> SaveOutcome:
        pk, sk = home_security_key(home.community_id, home.household)
        deadline = home.entry_deadline_ms if home.mode is SecurityMode.ARMED_AWAY else None
        item = HomeSecurityItem(pk, sk, community_id=home.community_id, household=home.household,
                                version=home.version, data=asdict(home),
                                gsi2pk=ENTRY_DUE if deadline is not None else None,
                                gsi2sk=f"{deadline:013d}#{home.community_id}#{home.household}"
                                if deadline is not None else None)
        condition = (HubItem.pk.does_not_exist() if expected_version is None
                     else HomeSecurityItem.version == expected_version)
        try:
            item.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    def due_entries(self, now_ms: int, limit: int) -> list[HomeSecurity]:
        found = HubItem.by_gsi2.query(ENTRY_DUE, HubItem.gsi2sk <= f"{now_ms:013d}~", limit=limit)
        return [to_home(item) for item in found if isinstance(item, HomeSecurityItem)]


class DynamoDeviceHealthFlags:
    """The mark is the device item's (otherwise unused) gsi2 key: the index then lists each
    community's devices with an open offline alarm, and loading a device reads the mark for free."""

    def mark_offline_alarm(self, device: Device) -> None:
        pk, sk = keys.device(device.thing_name)
        try:
            DeviceItem(pk, sk).update(actions=[DeviceItem.gsi2pk.set(offline_devices(device.community_id)),
                                               DeviceItem.gsi2sk.set(device.thing_name)],
                                      condition=HubItem.pk.exists())
        except UpdateError as exc:
            if not condition_failed(exc):  # a device deleted meanwhile has nothing to mark
                raise

    def clear_offline_alarm(self, thing_name: str) -> None:
        pk, sk = keys.device(thing_name)
        try:
            DeviceItem(pk, sk).update(actions=[DeviceItem.gsi2pk.remove(), DeviceItem.gsi2sk.remove()],
                                      condition=HubItem.pk.exists())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
