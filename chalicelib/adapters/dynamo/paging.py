"""Opaque list cursors: DynamoDB's LastEvaluatedKey, base64url JSON, bound to the partition listed."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.domain.errors import BadInput


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition_attr: str, partition_value: str) -> dict[str, Any] | None:
    """A cursor from another listing (another community, another resident) is bad input, not a leak."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise BadInput("cursor is not valid", code="invalid_cursor") from exc
    partition = key.get(partition_attr) if isinstance(key, dict) else None
    if not isinstance(partition, dict) or partition.get("S") != partition_value:
        raise BadInput("cursor does not belong to this list", code="invalid_cursor")
    return dict(key)
