"""TransactWriteItems: undo only what a transaction touched, not a deep copy of every table it names.

Why and what is measured: "Why this exists" in the package docstring (:mod:`localcloud.moto_patches`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    ResourceNotFoundException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table

from localcloud.moto_patches.registry import source_sha256

# the package's logger, as before the patches were split into modules
log = logging.getLogger("localcloud.moto_patches")

#: sha256 of the source of moto's ``DynamoDBBackend.transact_write_items`` that this module mirrors
#: (moto 5.2.5). When moto's changes, :func:`patch` still patches but logs a warning to re-read it.
MIRRORED_SOURCE_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"

#: moto's own ``transact_write_items``, while :func:`transact_write_items` replaces it
_original: Any = None


# ----------------------------------------------------------------------------------------- the journal
@dataclass
class _ItemBefore:
    """One item as it was before the transaction touched it."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    #: a deep copy of the stored item, or None when there was no item under this key
    item: Item | None
    #: range-key tables only: whether ``table.items`` already had a bucket for ``hash_key``
    #: (``Table.get_item`` creates an empty one when it looks up a missing hash key)
    bucket_existed: bool


@dataclass
class _StreamBefore:
    records: list[StreamRecord]
    length: int


class _Journal:
    """What one transaction may change, remembered just before it changes it, and its undo."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, DynamoType, DynamoType | None], _ItemBefore] = {}
        self._streams: dict[int, tuple[Table, _StreamBefore | None]] = {}

    def remember_table(self, table: Table) -> None:
        if id(table) in self._streams:
            return
        shard = table.stream_shard
        # keep the list object itself: moto replaces ``shard.items`` with a new list after handing the
        # records to a Lambda event source mapping, so the old list still holds the earlier records
        before = _StreamBefore(shard.items, len(shard.items)) if shard is not None else None
        self._streams[id(table)] = (table, before)

    def remember_item(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        self.remember_table(table)
        slot = (id(table), hash_key, range_key)
        if slot in self._items:
            return  # the first look is the state before the transaction
        items: dict[DynamoType, Any] = table.items  # {hash: Item} or {hash: {range: Item}}
        stored: Item | None
        if table.has_range_key:
            bucket = items.get(hash_key)  # .get: never create a bucket here
            bucket_existed = bucket is not None
            stored = bucket.get(range_key) if bucket is not None else None
        else:
            bucket_existed = False
            stored = items.get(hash_key)
        # a copy, because ``update_item`` changes the stored item in place (stream records hold their own
        # copies of the images: ``Item.to_json`` copies lists, maps and sets)
        item = copy.deepcopy(stored) if stored is not None else None
        self._items[slot] = _ItemBefore(table, hash_key, range_key, item, bucket_existed)

    def rollback(self) -> None:
        for before in self._items.values():
            _restore_item(before)
        for table, stream in self._streams.values():
            shard = table.stream_shard
            if shard is None or stream is None:
                continue
            del stream.records[stream.length:]
            shard.items = stream.records


def _restore_item(before: _ItemBefore) -> None:
    table = before.table
    items: dict[DynamoType, Any] = table.items  # {hash: Item} or {hash: {range: Item}}
    if before.item is None:  # absent stays absent
        if table.has_range_key:
            bucket = items.get(before.hash_key)
            if bucket is not None:
                bucket.pop(before.range_key, None)
                if not bucket and not before.bucket_existed:
                    del items[before.hash_key]
        else:
            items.pop(before.hash_key, None)
        return
    # re-insert under the item's own key objects (as ``Table.put_item`` stored it)
    if table.has_range_key:
        items.setdefault(before.item.hash_key, {})[before.item.range_key] = before.item
    else:
        items[before.item.hash_key] = before.item


# ------------------------------------------------------------------------------------ the replacement
def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` step for step, with the per-table deep copy
    replaced by a :class:`_Journal` of the touched items and stream positions, and every rollback (moto
    rolls back in two places) done by the journal."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    # Remember the stream position of every table named (moto: deep-copies each of these tables);
    # items are remembered one by one, just before the first operation on them.
    journal = _Journal()
    for item in transact_items:
        _, op = next(iter(item.items()))
        table_name = op.get("TableName")
        if table_name:
            with contextlib.suppress(ResourceNotFoundException):
                journal.remember_table(self.get_table(table_name))

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []  # [(Code, Message, Item), ..]
    try:
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            # Check transact writes are not performing multiple operations on the same item
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException

            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")

                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                # moto: current = self.get_item(table_name, key) — the same three steps, with the item
                # remembered between finding its key and reading it
                table = self.get_table(table_name)
                hash_key, range_key = self.get_keys_value(table, key)
                journal.remember_item(table, hash_key, range_key)
                current = table.get_item(hash_key, range_key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression,
                        expression_attribute_names,
                        expression_attribute_values,
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type == "Put":
                    attrs = op["Item"]
                    self.put_item(
                        table_name,
                        attrs,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Update":
                    update_expression = op["UpdateExpression"]
                    self.update_item(
                        table_name,
                        key,
                        update_expression=update_expression,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                # Rollback to the original state (below), and reraise the error
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:  # Do not use bare except
                # For other exceptions, capture their details
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    except BaseException:
        journal.rollback()
        raise

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        journal.rollback()
        raise TransactionCanceledException(errors)



# -------------------------------------------------------------------------------------------- install
def patch() -> None:
    """Replace moto's ``DynamoDBBackend.transact_write_items`` (the caller holds ``registry.lock``).
    Does nothing when it is already replaced."""
    global _original
    current = DynamoDBBackend.__dict__["transact_write_items"]
    if current is transact_write_items:
        return
    digest = source_sha256(current)
    if digest != MIRRORED_SOURCE_SHA256:
        log.warning("moto's DynamoDBBackend.transact_write_items is not the one localcloud.moto_patches "
                    "mirrors (source sha256 %s); patching anyway — re-read it against this module", digest)
    _original = current
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def unpatch() -> None:
    """Put moto's own ``transact_write_items`` back (the caller holds ``registry.lock``)."""
    global _original
    if _original is not None:
        DynamoDBBackend.transact_write_items = _original  # type: ignore[method-assign]
        _original = None


def patched() -> bool:
    return DynamoDBBackend.__dict__["transact_write_items"] is transact_write_items
