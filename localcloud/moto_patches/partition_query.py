"""Base-table Query reads one partition, not every item of the table.

Why and what is measured: "Query: per partition, not per table" in the package docstring
(:mod:`localcloud.moto_patches`). ``Table.query`` has this one replacement; it hands queries on a
secondary index to :func:`localcloud.moto_patches.index_query.query`.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from localcloud.moto_patches import index_query

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
    if index_name:
        return index_query.query(self, hash_key, *args, **kwargs)
    if hash_key is None:
        return _MOTO_TABLE_QUERY(self, hash_key, *args, **kwargs)
    return _MOTO_TABLE_QUERY(_OnePartition(self, hash_key), hash_key, *args, **kwargs)


def class_replacements() -> dict[tuple[type, str], Any]:
    return {(Table, "query"): _query}
