"""Query on a secondary index reads the items under the queried index key, not every item of the table.

Why: "Query on an index: per index key, not per table" in the package docstring
(:mod:`localcloud.moto_patches`).

Measured (moto 5.2.5, ``mock_aws`` and a boto3 client; one table of 50,000 items put in random order, a
GSI with 100 hash values of 500 items each; 100 queries, one per value in turn):

=========================================  ======================  =================================
                                           moto                    patched
=========================================  ======================  =================================
100 queries, ``Limit=20``                  317 s (3.2 s a query)   2.6 s (26 ms a query) + 0.5 s once
whole partitions (500 items a query)       3.1 s a query           0.31 s a query
=========================================  ======================  =================================

"once": the first query on an attribute builds the lookup (O(table)). With whole partitions what is left
is moto's per-result work (sorting, deep-copying, sizing and serialising 500 items), which DynamoDB too
pays per partition. tests/integration/test_moto_patches.py checks that the rate does not depend on table
size (a 10-item index partition in 50 vs 5,000 items).

How
---
moto's ``Table.query`` for an index (GSI or LSI: one code path) walks ``Table.all_items()`` — every item of
the table, sorted — and keeps those whose attributes equal every ``hash_key_conditions`` value. :func:`query`
gives that code a table whose ``all_items()`` lists only the *candidates* for the first hash condition
``(attribute, value)``: the stored items whose ``attribute`` equals ``value``, in ``all_items()``'s order.
Everything after that is moto's own code on those items — the same hash (and multi-attribute) checks, the
sparse-index check, sort by index keys then table keys, ``ScanIndexForward``, ``ExclusiveStartKey`` /
``Limit`` / ``LastEvaluatedKey``, range conditions, projection, filters — so the results are the same.

Finding the candidates: per table and per attribute name that an index query has asked about, an
:class:`_AttributeIndex` maps each value of the attribute to the primary keys of the items holding it. It
is built from the stored items the first time a query asks (O(table), once), and kept up to date by
re-reading the one item under a primary key after every write to that key (:func:`_reindex`): moto writes
``Table.items`` only in

* ``Table.put_item`` (PutItem, BatchWriteItem, the Put of a transaction, PartiQL, table import, and the
  item ``UpdateItem`` creates) and ``Table.delete_item`` (DeleteItem, BatchWriteItem, transactions,
  PartiQL) — both wrapped here;
* ``DynamoDBBackend.update_item``, which changes the stored item's attributes in place — wrapped here;
* :mod:`~localcloud.moto_patches.transactions`' rollback (``_restore_item``), which puts the remembered
  items straight back into ``Table.items`` — wrapped here. (moto's own ``transact_write_items`` instead
  swaps in deep copies of the tables: a new table object has no index yet, so it gets one built; so do
  tables restored from a backup, whose items are copied in.)

Every wrapper re-reads the key after the write, also when the write raised (an update can fail after
changing the item). Values are keyed as ``(type, cast value)`` — exactly what ``DynamoType`` hashes and
compares — so a value that equals the queried one is found under it. The index may hold keys that no
longer hold the value, or hold no item (harmless: candidates are looked up in ``Table.items`` at query
time, and moto's own check drops those that do not match); what matters is that it never lacks a stored
item that holds the value — which only a write it does not hear of could cause.
Reads and updates of the indexes, and the reads of ``Table.items`` they come from, happen under one lock,
so a write racing the first build of an index is not lost. The indexes live in a ``WeakKeyDictionary`` on
the table objects (deleted tables take theirs along) and are dropped by :func:`forget` on uninstall (writes
while uninstalled would not reach them).

When a query has no hash condition, or its value cannot be hashed, or the write hooks are not installed,
moto's query runs on the whole table, as before.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from localcloud.moto_patches import transactions
from localcloud.moto_patches.registry import source_sha256

# the package's logger, as the other patch modules
log = logging.getLogger("localcloud.moto_patches")

#: sha256 of the sources of moto (5.2.5) that this module relies on: the index branch of ``Table.query``
#: (it filters ``all_items()`` by ``hash_key_conditions``), ``Table.all_items`` (its order), and the
#: write paths whose keys :func:`_reindex` re-reads. When one changes, :func:`warn_if_moto_changed` logs it.
MIRRORED_SOURCES_SHA256 = {
    (Table, "query"): "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
    (Table, "all_items"): "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
    (Table, "put_item"): "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
    (Table, "delete_item"): "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9",
    (DynamoDBBackend, "update_item"): "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
}

_MOTO_TABLE_QUERY: Any = Table.__dict__["query"]
_MOTO_PUT_ITEM: Any = Table.__dict__["put_item"]
_MOTO_DELETE_ITEM: Any = Table.__dict__["delete_item"]
_MOTO_UPDATE_ITEM: Any = DynamoDBBackend.__dict__["update_item"]
_RESTORE_ITEM: Any = vars(transactions)["_restore_item"]

#: an item's primary key as ``Table.items`` holds it: (hash, range), range None on a hash-only table
_Key = tuple[DynamoType, DynamoType | None]
#: an attribute value as ``DynamoType`` hashes and compares it: (type, cast value)
_Value = tuple[str, Any]

#: held while an index is built, read or updated (and ``Table.items`` read for it)
_lock = threading.Lock()
#: table → attribute name → its index
_indexes: weakref.WeakKeyDictionary[Table, dict[str, _AttributeIndex]] = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------ the index
def _value(value: Any) -> _Value | None:
    """``value``'s type and cast value — equal and hashed as ``DynamoType`` equals and hashes — or None when
    there is no value, or it cannot be hashed (sets, lists, maps: never equal to a queried S, N or B)."""
    if not isinstance(value, DynamoType):
        return None
    typed = (value.type, value.cast_value)
    try:
        hash(typed)
    except TypeError:
        return None
    return typed


class _AttributeIndex:
    """One attribute name of one table: value → primary keys of the items that hold it (and back)."""

    def __init__(self) -> None:
        self.keys_by_value: dict[_Value, set[_Key]] = {}
        self.value_by_key: dict[_Key, _Value] = {}

    def set(self, key: _Key, value: Any) -> None:
        """The item under ``key`` now holds ``value`` (None: it holds none, or there is no item)."""
        old = self.value_by_key.pop(key, None)
        if old is not None:
            keys = self.keys_by_value[old]
            keys.discard(key)
            if not keys:
                del self.keys_by_value[old]
        new = _value(value)
        if new is not None:
            self.value_by_key[key] = new
            self.keys_by_value.setdefault(new, set()).add(key)


def _stored_items(table: Table) -> Iterator[tuple[_Key, Item]]:
    """Every stored item with its key (the caller holds ``_lock``)."""
    items: dict[DynamoType, Any] = table.items  # {hash: Item} or {hash: {range: Item}}
    for hash_key, stored in list(items.items()):
        if table.range_key_attr:
            for range_key, item in list(stored.items()):
                if isinstance(item, Item):
                    yield (hash_key, range_key), item
        elif isinstance(stored, Item):
            yield (hash_key, None), stored


def _stored_item(table: Table, key: _Key) -> Item | None:
    """The item stored under ``key``, or None (never creates a bucket)."""
    items: dict[DynamoType, Any] = table.items
    stored = items.get(key[0])
    if table.range_key_attr:
        stored = stored.get(key[1]) if isinstance(stored, dict) else None
    return stored if isinstance(stored, Item) else None


def _attribute_index(table: Table, attribute: str) -> _AttributeIndex:
    """The table's index of ``attribute``, built now if it has none (the caller holds ``_lock``)."""
    by_attribute = _indexes.setdefault(table, {})
    index = by_attribute.get(attribute)
    if index is None:
        index = _AttributeIndex()
        for key, item in _stored_items(table):
            index.set(key, item.attrs.get(attribute))
        by_attribute[attribute] = index
    return index


def _reindex(table: Table, key: _Key | None) -> None:
    """Re-read the item under ``key`` (after a write to it) into each of the table's indexes."""
    if key is None:
        return
    with _lock:
        by_attribute = _indexes.get(table)
        if not by_attribute:
            return
        item = _stored_item(table, key)
        for attribute, index in by_attribute.items():
            index.set(key, item.attrs.get(attribute) if item is not None else None)


def _key(hash_key: Any, range_key: Any) -> _Key | None:
    """``(hash_key, range_key)`` as a key of ``Table.items``, or None when it cannot be one (then the write
    that named it stored nothing)."""
    if not isinstance(hash_key, DynamoType) or not (range_key is None or isinstance(range_key, DynamoType)):
        return None
    try:
        hash((hash_key, range_key))
    except TypeError:
        return None
    return hash_key, range_key


def _key_in(table: Table, attributes: Any) -> _Key | None:
    """The key that ``attributes`` (an item, or UpdateItem's ``Key``) names, as moto reads it — or None when
    moto could not read one (then it raised before writing anything)."""
    try:
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_attr = table.range_key_attr
        range_key = DynamoType(attributes[range_attr]) if range_attr is not None and range_attr in attributes else None
    except Exception:  # moto builds the same DynamoType before it writes: nothing was written
        return None
    return _key(hash_key, range_key)


# ------------------------------------------------------------------------------------ the write hooks
def _put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _MOTO_PUT_ITEM(self, item_attrs, *args, **kwargs)  # type: ignore[no-any-return]
    finally:
        _reindex(self, _key_in(self, item_attrs))


def _delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    try:
        return _MOTO_DELETE_ITEM(self, hash_key, range_key)  # type: ignore[no-any-return]
    finally:
        _reindex(self, _key(hash_key, range_key))


def _update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    try:
        return _MOTO_UPDATE_ITEM(self, table_name, key, *args, **kwargs)  # type: ignore[no-any-return]
    finally:
        try:
            table = self.get_table(table_name)
        except ResourceNotFoundException:
            table = None  # moto raised the same before writing anything
        if table is not None:
            # moto: (hash, range) when the key names both, else (hash, None) — which on a table with a
            # range key is a validation error before any write; no hash key: None, nothing written
            _reindex(table, _key_in(table, key))


def _restore_item(before: Any) -> None:
    """``transactions._restore_item`` (a cancelled transaction puts an item back), then re-read its key."""
    _RESTORE_ITEM(before)
    _reindex(before.table, _key(before.hash_key, before.range_key))


def _hooks_installed() -> bool:
    return (Table.__dict__["put_item"] is _put_item and Table.__dict__["delete_item"] is _delete_item
            and DynamoDBBackend.__dict__["update_item"] is _update_item
            and vars(transactions)["_restore_item"] is _restore_item)


# ------------------------------------------------------------------------------------------- the query
class _Candidates:
    """A table as ``Table.query`` sees it for an index query: everything is the table's own, except that
    ``all_items()`` lists only the candidates (in ``Table.all_items``' order)."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table = table
        self._items = items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        return list(self._items)


def _candidates(table: Table, hash_key_conditions: Any) -> _Candidates | None:
    """The items whose attribute equals the first hash condition's value, or None to read the whole table."""
    if not hash_key_conditions or not _hooks_installed():
        return None
    attribute, wanted = hash_key_conditions[0]
    value = _value(wanted)
    if not isinstance(attribute, str) or value is None:
        return None
    with _lock:
        keys = list(_attribute_index(table, attribute).keys_by_value.get(value, ()))
        items = [item for item in (_stored_item(table, key) for key in keys) if item is not None]
    items.sort(key=_all_items_order)
    return _Candidates(table, items)


def _all_items_order(item: Item) -> Any:
    """The order of moto's ``Table.all_items``: its sort key, ``(hash_key, range_key) if range_key else
    hash_key``, on the cast values — ``put_item`` stores only keys of the table's key types, and between
    two ``DynamoType`` of one type ``==`` and ``<`` are those of their cast values (moto's own compares
    build each cast value anew: most of what a query of a few hundred items cost)."""
    if item.range_key:
        return item.hash_key.cast_value, item.range_key.cast_value
    return item.hash_key.cast_value


def query(table: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    """``Table.query`` on an index (``partition_query`` hands index queries here): moto's own, on the
    candidates only."""
    hash_key_conditions = args[9] if len(args) > 9 else kwargs.get("hash_key_conditions")
    candidates = _candidates(table, hash_key_conditions)
    return _MOTO_TABLE_QUERY(table if candidates is None else candidates, hash_key, *args, **kwargs)


# -------------------------------------------------------------------------------------------- install
def class_replacements() -> dict[tuple[type, str], Any]:
    return {(Table, "put_item"): _put_item, (Table, "delete_item"): _delete_item,
            (DynamoDBBackend, "update_item"): _update_item}


def module_replacements() -> dict[tuple[Any, str], Any]:
    return {(transactions, "_restore_item"): _restore_item}


def warn_if_moto_changed() -> None:
    """Log a warning for each mirrored moto function whose source is not the one this module was read against."""
    for (owner, name), expected in MIRRORED_SOURCES_SHA256.items():
        digest = source_sha256(owner.__dict__[name])
        if digest != expected:
            log.warning("moto's %s.%s is not the one localcloud.moto_patches.index_query mirrors (source sha256 "
                        "%s); patching anyway — re-read it against this module", owner.__name__, name, digest)


def forget() -> None:
    """Drop every index (on uninstall: writes made without the hooks would not reach them)."""
    with _lock:
        _indexes.clear()
