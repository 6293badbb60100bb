"""Patches to the embedded moto that the local hub and the tests run against — never production code.

Why this exists
---------------
moto's DynamoDB ``transact_write_items`` (moto 5.2.x, ``DynamoDBBackend.transact_write_items``) protects
itself against a cancelled transaction by ``copy.deepcopy``-ing every table the transaction names — all
of its items and its whole stream history — on *every* call, and by putting those copies back if the
transaction is cancelled. Each transaction therefore costs O(table size): measured at 126 txn/s with 100
items and 28 txn/s with 600 (single-item updates on a table with a GSI and a stream: 59 / 15 / 2 txn/s at
50 / 600 / 5,000 items; patched, ~310-330 txn/s at all three), so a local hub that keeps running gets
slower and slower — the profile of device ingestion shows ``copy.deepcopy`` on top at ~150 items.

:func:`install` replaces that method with one that remembers only what a transaction can change:

* each item the transaction touches, by table and key, *before* the first operation on it — a deep
  copy of the item, or "absent" when there was none;
* each touched table's stream shard: its list of records and that list's length.

On any failure it puts exactly those items back (re-inserting, replacing, or deleting so that absent
stays absent) and truncates the stream records back to the saved length. Everything else is moto's own
code: the operations run through the backend's ``put_item`` / ``update_item`` / ``delete_item`` and the
same condition-expression code, and the errors are the same (``TransactionCanceledException`` with the
same cancellation reasons, the same validation errors). Secondary indexes need no undo: moto keeps no
index structures, it computes GSI/LSI results from ``Table.items`` on every query and scan; nor does it
keep an item count or size (``ItemCount`` is ``len(table)``, ``TableSizeBytes`` is a constant 0).

Where this differs from moto, it is on purpose (each a moto bug that the deep copy causes or hides):

* the table objects are no longer swapped for copies on a rollback, so shard iterators handed out
  before a cancelled transaction keep reading the live stream (with moto they go on reading the
  discarded copy: they see the cancelled writes and never see later ones);
* a table named by its ARN is rolled back too (moto only snapshots tables named by name);
* a transaction rejected mid-way because an entry holds several operations
  (``TransactWriteSingleOpException``) is rolled back too (moto leaves the earlier writes in place).

Unchanged limits: moto takes no lock, so a write that another request thread makes to an item a cancelled
transaction touched is undone with it (moto would undo every write to the whole table); records already
handed to a moto-Lambda event source mapping during a cancelled transaction cannot be recalled.

Query: per partition, not per table
-----------------------------------
moto's ``Table.query`` on the base table (no index) finds the partition by walking ``Table.all_items()``
— which lists *every* item of the table and sorts them — and keeping those with the queried hash key, so
one query of a 50-item partition costs O(table · log table): seconds once a local hub holds a few
hundred thousand items (a wallet's entries, a resident's weigh-ins, the admin ledger). :func:`install`
wraps it so that, for a base-table query, ``all_items()`` yields only the queried partition; the rest is
moto's own code (sort by range key, paging, filters, projections), so the results are the same. Queries
on secondary indexes are unchanged (moto keeps no index structures; they stay O(table)).

SQS: per message, not per queue length
---------------------------------------
moto's SQS (5.2.x) makes every message cost O(messages in the queue), several times over: each
``SendMessage`` builds the queue's full attribute map (``Queue.attributes``) just to read
``ContentBasedDeduplication``, and each message a ``ReceiveMessage`` returns checks its retention period
through ``get_queue_attributes``, which builds that map three times. Building the map counts the
visible, in-flight and delayed messages, asking the clock once per message each time. With a backlog of
a couple of thousand device events, one receive of ten took over 100 ms of CPU and one send ~10 ms —
the embedded AWS slowed down exactly when the hub had the most to do. :func:`install` also:

* reads the retention period from the queue itself in ``is_message_valid_based_on_retention_period``
  (the same value the attribute map holds: ``Queue.message_retention_period``, an int);
* counts visible / in-flight / delayed messages (``Queue.messages`` and the three
  ``approximate_number_of_messages*`` properties) against one clock reading per call instead of one per
  message — the same comparisons (``now > visible_at``, ``now < delayed_until``) against the same clock
  (``moto.core.utils.unix_time_millis``).

Items: sized once, not once per attribute
-----------------------------------------
moto checks DynamoDB's 400 KB item limit in ``LimitedSizeDict.__setitem__`` by re-measuring every
attribute already set, and ``Item.__init__`` sets the attributes one by one: building an item of k
attributes measures k²/2 attributes — half of what a put costs moto for the hub's 15-attribute items.
:func:`install` replaces ``Item.__init__`` with one that keeps the running size instead: the same sizes
(``bytesize(name) + DynamoType.size()``), the same limit, the same ``ItemSizeTooLarge`` at the same
attribute, the same resulting item.

Per request: no directory listing, no class introspection
--------------------------------------------------------
moto's server finds the backend for each request by checking the host against
``moto.backends.list_of_moto_modules()`` — a fresh ``os.listdir`` of moto's package plus a ``stat`` per
entry — and each response class looks up its own method names with ``inspect.getmembers`` on every
request (``moto.core.responses.method_names_from_class``). Neither answer can change while the process
runs; :func:`install` computes each once (about 1 ms of every request: a quarter of a ``GetItem``).

It is used only by ``localcloud`` (the embedded moto server) and by tests, in this process, against
moto's in-memory backend. It has no effect on, and is never imported by, anything deployed.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import inspect
import logging
import threading
from dataclasses import dataclass
from typing import Any

from moto import backends as moto_backends
from moto.core import responses as moto_responses
from moto.core.utils import unix_time, unix_time_millis
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    ItemSizeTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    ResourceNotFoundException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import StreamRecord, Table
from moto.dynamodb.models.utilities import bytesize
from moto.sqs import models as sqs_models

log = logging.getLogger("localcloud.moto_patches")

#: sha256 of the source of moto's ``DynamoDBBackend.transact_write_items`` that this module mirrors
#: (moto 5.2.5). When moto's changes, :func:`install` still patches but logs a warning to re-read it.
MIRRORED_SOURCE_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"

_lock = threading.Lock()
_original: Any = None
#: (owner class, attribute name) → moto's own attribute, while the query and SQS patches are installed
_class_originals: dict[tuple[type, str], Any] = {}
#: (module, function name) → moto's own function, while the per-request patches are installed
_module_originals: dict[tuple[Any, str], Any] = {}


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


# ---------------------------------------------------------------------------------------------- query
_MOTO_TABLE_QUERY: Any = Table.__dict__["query"]


class _OnePartition:
    """A table as ``Table.query`` sees it when it reads one partition of the base table: everything is
    the table's own, except that ``all_items()`` lists only the items under ``hash_key``."""

    def __init__(self, table: Table, hash_key: DynamoType) -> None:
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        bucket = self._table.items.get(self._hash_key)
        if bucket is None:
            return []
        if self._table.range_key_attr:  # {range: Item}
            return sorted(bucket.values(), key=lambda item: item.range_key)
        return [bucket]  # type: ignore[list-item]  # hash-only tables map hash → Item


def _query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None:
        return _MOTO_TABLE_QUERY(self, hash_key, *args, **kwargs)
    return _MOTO_TABLE_QUERY(_OnePartition(self, hash_key), hash_key, *args, **kwargs)


# ---------------------------------------------------------------------------------------------- items
#: moto's limit in ``LimitedSizeDict.__setitem__`` (between the official 400 KB and the measured 409-410 KB)
ITEM_SIZE_LIMIT = 405_000


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's ``Item.__init__`` with ``LimitedSizeDict``'s size check done on a running total."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    size = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        size += bytesize(key) + typed.size()
        if size > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)


# ------------------------------------------------------------------------------------------------ SQS
def _visible_messages(queue: sqs_models.Queue) -> list[sqs_models.Message]:
    """``Queue.messages``: the messages that are visible and not delayed, against one clock reading."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(queue: sqs_models.Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _count_not_visible(queue: sqs_models.Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _count_visible(queue: sqs_models.Queue) -> int:
    return len(_visible_messages(queue))


def _valid_for_retention(self: sqs_models.SQSBackend, queue_name: str, message: sqs_models.Message) -> bool:
    """moto's ``is_message_valid_based_on_retention_period`` without building the attribute map three times."""
    retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
    retain_until = retention_period + message.sent_timestamp / 1000  # type: ignore[operator]
    return bool(retain_until > unix_time())


def _class_replacements() -> dict[tuple[type, str], Any]:
    return {
        (Table, "query"): _query,
        (Item, "__init__"): _item_init,
        (sqs_models.Queue, "messages"): property(_visible_messages),
        (sqs_models.Queue, "approximate_number_of_messages"): property(_count_visible),
        (sqs_models.Queue, "approximate_number_of_messages_delayed"): property(_count_delayed),
        (sqs_models.Queue, "approximate_number_of_messages_not_visible"): property(_count_not_visible),
        (sqs_models.SQSBackend, "is_message_valid_based_on_retention_period"): _valid_for_retention,
    }


# ------------------------------------------------------------------------------------ per request
_MOTO_MODULES: tuple[str, ...] | None = None


def _moto_modules() -> tuple[str, ...]:
    """``moto.backends.list_of_moto_modules()``, listed once."""
    global _MOTO_MODULES
    if _MOTO_MODULES is None:
        _MOTO_MODULES = tuple(_module_originals[(moto_backends, "list_of_moto_modules")]())
    return _MOTO_MODULES


@functools.cache
def _method_names(clazz: type) -> tuple[str, ...]:
    """``moto.core.responses.method_names_from_class``, once per class (its methods do not change)."""
    return tuple(_module_originals[(moto_responses, "method_names_from_class")](clazz))


def _module_replacements() -> dict[tuple[Any, str], Any]:
    return {(moto_backends, "list_of_moto_modules"): _moto_modules,
            (moto_responses, "method_names_from_class"): _method_names}


# ------------------------------------------------------------------------------------------- install
def _source_sha256(func: Any) -> str | None:
    try:
        return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()
    except (OSError, TypeError):
        return None


def install() -> None:
    """Replace moto's ``DynamoDBBackend.transact_write_items``, ``Table.query``, the SQS helpers and the
    per-request lookups described above (class- and module-wide, so every backend in this process:
    ``mock_aws`` and ``ThreadedMotoServer`` alike). Calling it again does nothing."""
    global _original
    with _lock:
        if not _class_originals:
            for (owner, name), replacement in _class_replacements().items():
                _class_originals[(owner, name)] = owner.__dict__[name]
                setattr(owner, name, replacement)
        if not _module_originals:
            for (module, name), replacement in _module_replacements().items():
                _module_originals[(module, name)] = getattr(module, name)
                setattr(module, name, replacement)
        current = DynamoDBBackend.__dict__["transact_write_items"]
        if current is transact_write_items:
            return
        digest = _source_sha256(current)
        if digest != MIRRORED_SOURCE_SHA256:
            log.warning("moto's DynamoDBBackend.transact_write_items is not the one localcloud.moto_patches "
                        "mirrors (source sha256 %s); patching anyway — re-read it against this module", digest)
        _original = current
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def uninstall() -> None:
    """Put moto's own methods back (tests compare against them)."""
    global _original
    with _lock:
        if _original is not None:
            DynamoDBBackend.transact_write_items = _original  # type: ignore[method-assign]
            _original = None
        for (owner, name), original in _class_originals.items():
            setattr(owner, name, original)
        _class_originals.clear()
        for (module, name), original in _module_originals.items():
            setattr(module, name, original)
        _module_originals.clear()


def installed() -> bool:
    return DynamoDBBackend.__dict__["transact_write_items"] is transact_write_items
