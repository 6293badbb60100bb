"""Devices, and the exactly-once bookkeeping of what they publish."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.models import DeviceItem, HubItem, SeenEventItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.security_models import has_offline_alarm
from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus, DeviceType, LastEvent
from chalicelib.domain.errors import DeviceAlreadyRegistered, DeviceUnknown
from chalicelib.ports import OutboxEvent, Page, RecordOutcome


def to_device(item: DeviceItem) -> Device:
    last_event = None
    if item.last_event_kind and item.last_event_id and item.last_event_ts_ms is not None:
        last_event = LastEvent(kind=item.last_event_kind, event_id=item.last_event_id,
                               ts_ms=int(item.last_event_ts_ms))
    return Device(
        thing_name=item.thing_name,
        community_id=item.community_id,
        type=DeviceType(item.device_type),
        status=DeviceStatus(item.status),
        registered_at_ms=int(item.registered_at_ms),
        last_seen_ms=None if item.last_seen_ms is None else int(item.last_seen_ms),
        last_event=last_event,
        building=item.building,
        room=item.room,
        location=item.location,
        offline_alarm=has_offline_alarm(item),
        serial=item.serial,
        certificate_id=item.provision_cert_id,
        provisioned_at_ms=None if item.provisioned_at_ms is None else int(item.provisioned_at_ms),
    )


class DynamoDevices:
    def register(self, device: Device, event: OutboxEvent) -> None:
        pk, sk = keys.device(device.thing_name)
        item = DeviceItem(pk, sk, thing_name=device.thing_name, community_id=device.community_id,
                          device_type=device.type.value, status=device.status.value,
                          registered_at_ms=device.registered_at_ms, building=device.building, room=device.room,
                          location=device.location, serial=device.serial,
                          gsi1pk=keys.devices_of(device.community_id), gsi1sk=device.thing_name)
        tw = txn.write()
        try:
            with tw:
                tw.save(item, condition=HubItem.pk.does_not_exist())
                tw.save(txn.outbox_item(event, device.registered_at_ms))
        except TransactWriteError as exc:
            if pk in txn.failed_keys(tw, exc):
                raise DeviceAlreadyRegistered(f"thing name {device.thing_name!r} is already registered") from exc
            raise

    def get(self, thing_name: str) -> Device | None:
        pk, sk = keys.device(thing_name)
        try:
            return to_device(DeviceItem.get(pk, sk, consistent_read=True))
        except DeviceItem.DoesNotExist:
            return None

    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Device]:
        partition = keys.devices_of(community_id)
        result = HubItem.by_gsi1.query(
            partition, limit=limit,
            last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        items = [to_device(item) for item in result if isinstance(item, DeviceItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def set_status(self, thing_name: str, status: DeviceStatus) -> None:
        _update_existing(thing_name, [DeviceItem.status.set(status.value)])

    def clear_provisioning(self, thing_name: str) -> None:
        _update_existing(thing_name, [DeviceItem.provision_cert_id.remove(), DeviceItem.provisioned_at_ms.remove()])


def _update_existing(thing_name: str, actions: list[Action]) -> None:
    """One UpdateItem of a registered device; DeviceUnknown when there is none."""
    pk, sk = keys.device(thing_name)
    try:
        DeviceItem(pk, sk).update(actions=actions, condition=HubItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise DeviceUnknown(f"no device {thing_name!r}") from exc
        raise


class DynamoDeviceEventStore:
    """One BatchGetItem to load, one TransactWriteItems to record; duplicates write nothing."""

    def __init__(self, dedupe_ttl_s: int) -> None:
        self._dedupe_ttl_s = dedupe_ttl_s

    def load(self, thing_name: str, event_id: str) -> tuple[Device | None, bool]:
        wanted = [keys.device(thing_name), keys.seen_event(thing_name, event_id)]
        device: Device | None = None
        seen = False
        for item in HubItem.batch_get(wanted, consistent_read=True):
            if isinstance(item, DeviceItem):
                device = to_device(item)
            elif isinstance(item, SeenEventItem):
                seen = True
        return device, seen

    def record(self, message: DeviceMessage, advance_last_seen: bool) -> RecordOutcome:
        seen = seen_item(message, self._dedupe_ttl_s)
        pk = seen.pk
        tw = txn.write()
        try:
            self._write(tw, seen, message, advance_last_seen)
        except TransactWriteError as exc:
            failed = txn.failed_keys(tw, exc)
            if pk in failed:
                return RecordOutcome.DUPLICATE
            if keys.device(message.thing_name)[0] in failed:
                # A newer message moved last_seen past this one meanwhile: record the event only.
                return self.record(message, advance_last_seen=False)
            raise
        return RecordOutcome.RECORDED

    def _write(self, tw: TransactWrite, seen: SeenEventItem, message: DeviceMessage, advance_last_seen: bool) -> None:
        with tw:
            add_seen(tw, seen, message, advance_last_seen)


def seen_item(message: DeviceMessage, dedupe_ttl_s: int) -> SeenEventItem:
    pk, sk = keys.seen_event(message.thing_name, message.event_id)
    return SeenEventItem(pk, sk, kind=message.kind, received_at_ms=message.received_at_ms,
                         expires_at=message.received_at_ms // 1000 + dedupe_ttl_s)


def add_seen(tw: TransactWrite, seen: SeenEventItem, message: DeviceMessage, advance_last_seen: bool) -> None:
    """Mark the event processed (only if it was not) and move the device's last_seen forward (never back)."""
    tw.save(seen, condition=HubItem.pk.does_not_exist())
    if advance_last_seen:
        dpk, dsk = keys.device(message.thing_name)
        tw.update(
            DeviceItem(dpk, dsk),
            actions=[
                DeviceItem.last_seen_ms.set(message.received_at_ms),
                DeviceItem.last_event_kind.set(message.kind),
                DeviceItem.last_event_id.set(message.event_id),
                DeviceItem.last_event_ts_ms.set(message.ts_ms),
            ],
            condition=HubItem.pk.exists() & (
                DeviceItem.last_seen_ms.does_not_exist()
                | (DeviceItem.last_seen_ms < message.received_at_ms)),
        )
