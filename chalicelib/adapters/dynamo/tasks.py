"""Bins and cleaning tasks in DynamoDB: a reading's state change and its task change in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.tasks_models import (
    BinStateItem,
    CleaningTaskItem,
    OpenTaskKeyItem,
    bin_key,
    open_task_key,
    task_key,
    tasks_of,
)
from chalicelib.domain.bins import BinState, CleaningTask, TaskStatus
from chalicelib.ports import BinWrite, Page, SaveOutcome


def _task_item(task: CleaningTask) -> CleaningTaskItem:
    pk, sk = task_key(task.task_id)
    data: dict[str, Any] = asdict(task)
    data["status"] = task.status.value
    return CleaningTaskItem(pk, sk, task_id=task.task_id, status=task.status.value, data=data,
                            gsi1pk=tasks_of(task.community_id, task.status.value),
                            gsi1sk=f"{task.opened_at_ms:013d}#{task.task_id}")


def to_task(item: CleaningTaskItem) -> CleaningTask:
    data: dict[str, Any] = dict(item.data)
    data["status"] = TaskStatus(data["status"])
    return CleaningTask(**data)


class DynamoCleaningTaskBook:
    def bin_state(self, thing_name: str, community_id: str) -> BinState:
        try:
            item = BinStateItem.get(*bin_key(thing_name), consistent_read=True)
        except BinStateItem.DoesNotExist:
            return BinState(thing_name=thing_name, community_id=community_id)
        return BinState(thing_name=item.thing_name, community_id=item.community_id, last_ts_ms=int(item.last_ts_ms),
                        last_event_id=item.last_event_id,
                        last_fill_pct=None if item.last_fill_pct is None else float(item.last_fill_pct),
                        open_task_id=item.open_task_id, version=int(item.version))

    def last_fills(self, thing_names: Sequence[str]) -> dict[str, float]:
        wanted = [bin_key(thing) for thing in dict.fromkeys(thing_names)]
        if not wanted:
            return {}
        return {item.thing_name: float(item.last_fill_pct) for item in BinStateItem.batch_get(wanted)
                if item.last_fill_pct is not None}

    def save(self, write: BinWrite) -> SaveOutcome:
        state = write.state
        pk, sk = bin_key(state.thing_name)
        key_pk, key_sk = open_task_key(state.thing_name)
        item = BinStateItem(pk, sk, thing_name=state.thing_name, community_id=state.community_id,
                            last_ts_ms=state.last_ts_ms, last_event_id=state.last_event_id,
                            last_fill_pct=state.last_fill_pct, open_task_id=state.open_task_id,
                            version=state.version)
        watched = {pk, key_pk}
        tw = txn.write()
        try:
            with tw:
                if write.expected_version == 0:
                    tw.save(item, condition=HubItem.pk.does_not_exist())
                else:
                    tw.save(item, condition=BinStateItem.version == write.expected_version)
                if write.opened is not None:
                    opened = _task_item(write.opened)
                    watched.add(opened.pk)
                    tw.save(opened, condition=HubItem.pk.does_not_exist())
                    tw.save(OpenTaskKeyItem(key_pk, key_sk, task_id=write.opened.task_id),
                            condition=HubItem.pk.does_not_exist())
                if write.closed is not None:
                    closed = _task_item(write.closed)
                    watched.add(closed.pk)
                    tw.save(closed, condition=CleaningTaskItem.status == TaskStatus.OPEN.value)
                    tw.delete(OpenTaskKeyItem(key_pk, key_sk),
                              condition=OpenTaskKeyItem.task_id == write.closed.task_id)
                for event in write.events:
                    tw.save(txn.outbox_item(event, write.at_ms))
        except TransactWriteError as exc:
            if txn.failed_keys(tw, exc) & watched:
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    def get_task(self, task_id: str) -> CleaningTask | None:
        try:
            return to_task(CleaningTaskItem.get(*task_key(task_id), consistent_read=True))
        except CleaningTaskItem.DoesNotExist:
            return None

    def list_tasks(self, community_id: str, status: TaskStatus, limit: int,
                   cursor: str | None) -> Page[CleaningTask]:
        partition = tasks_of(community_id, status.value)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        return Page(items=[to_task(i) for i in result if isinstance(i, CleaningTaskItem)],
                    next_cursor=encode_cursor(result.last_evaluated_key))
