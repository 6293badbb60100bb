"""An item's 400 KB size check on a running total, not re-measured per attribute.

Why and what is measured: "Items: sized once, not once per attribute" in the package docstring
(:mod:`localcloud.moto_patches`).
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

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


def class_replacements() -> dict[tuple[type, str], Any]:
    return {(Item, "__init__"): _item_init}
