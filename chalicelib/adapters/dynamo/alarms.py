"""Alarms: the alarm item, and a key item per condition that makes "one open alarm per condition" a
condition DynamoDB enforces (created with does-not-exist, deleted when the alarm is cleared)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.alarms_models import AlarmItem, AlarmKeyItem
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.alarms import Alarm, AlarmStatus, Severity
from chalicelib.ports import OutboxEvent, Page, SaveOutcome


def _shard(alarm_id: str) -> int:
    return hashlib.sha256(alarm_id.encode()).digest()[0] % keys.ALARM_ESCALATION_SHARDS


def to_alarm(item: AlarmItem) -> Alarm:
    data: dict[str, Any] = dict(item.data)
    data["severity"] = Severity(data["severity"])
    data["status"] = AlarmStatus(data["status"])
    data["chain"] = tuple(data.get("chain") or ())
    return Alarm(**data)


class DynamoAlarmBook:
    def current(self, community_id: str, dedup_key: str) -> Alarm | None:
        pk, sk = keys.alarm_condition(community_id, dedup_key)
        try:
            pointer = AlarmKeyItem.get(pk, sk, consistent_read=True)
        except AlarmKeyItem.DoesNotExist:
            return None
        return self.get(pointer.alarm_id)

    def save(self, alarm: Alarm, expected_version: int | None, events: Sequence[OutboxEvent]) -> SaveOutcome:
        pk, sk = keys.alarm(alarm.alarm_id)
        key_pk, key_sk = keys.alarm_condition(alarm.community_id, alarm.dedup_key)
        data = asdict(alarm)
        data["chain"] = list(alarm.chain)
        escalating = alarm.status is AlarmStatus.OPEN and alarm.escalate_at_ms is not None
        item = AlarmItem(pk, sk, alarm_id=alarm.alarm_id, status=alarm.status.value, version=alarm.version, data=data,
                         gsi1pk=keys.alarms_of(alarm.community_id, alarm.status.value),
                         gsi1sk=f"{alarm.opened_at_ms:013d}#{alarm.alarm_id}",
                         gsi2pk=keys.alarm_escalation(_shard(alarm.alarm_id)) if escalating else None,
                         gsi2sk=f"{alarm.escalate_at_ms:013d}#{alarm.alarm_id}" if escalating else None)
        tw = txn.write()
        try:
            with tw:
                if expected_version is None:
                    tw.save(item, condition=HubItem.pk.does_not_exist())
                    tw.save(AlarmKeyItem(key_pk, key_sk, alarm_id=alarm.alarm_id),
                            condition=HubItem.pk.does_not_exist())
                else:
                    tw.save(item, condition=AlarmItem.version == expected_version)
                    if alarm.status is AlarmStatus.CLEARED:
                        tw.delete(AlarmKeyItem(key_pk, key_sk), condition=AlarmKeyItem.alarm_id == alarm.alarm_id)
                for event in events:
                    tw.save(txn.outbox_item(event, alarm.updated_at_ms))
        except TransactWriteError as exc:
            if txn.failed_keys(tw, exc) & {pk, key_pk}:
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    def get(self, alarm_id: str) -> Alarm | None:
        pk, sk = keys.alarm(alarm_id)
        try:
            return to_alarm(AlarmItem.get(pk, sk, consistent_read=True))
        except AlarmItem.DoesNotExist:
            return None

    def list_for_community(self, community_id: str, status: AlarmStatus | None, limit: int,
                           cursor: str | None) -> Page[Alarm]:
        """Newest first. Without a status: open, then acknowledged, then cleared (one list each)."""
        if status is None:
            found: list[Alarm] = []
            for each in AlarmStatus:
                found.extend(self.list_for_community(community_id, each, limit - len(found), None).items)
                if len(found) >= limit:
                    break
            return Page(items=found[:limit])
        partition = keys.alarms_of(community_id, status.value)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        return Page(items=[to_alarm(i) for i in result if isinstance(i, AlarmItem)],
                    next_cursor=encode_cursor(result.last_evaluated_key))

    def due_escalations(self, now_ms: int, limit: int) -> list[Alarm]:
        found: list[Alarm] = []
        for shard in range(keys.ALARM_ESCALATION_SHARDS):
            for item in HubItem.by_gsi2.query(keys.alarm_escalation(shard), HubItem.gsi2sk <= f"{now_ms:013d}~",
                                              limit=limit):
                if isinstance(item, AlarmItem):
                    found.append(to_alarm(item))
        return sorted(found, key=lambda a: a.escalate_at_ms or 0)[:limit]
