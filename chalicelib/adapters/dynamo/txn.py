"""Transaction helpers shared by the repositories."""

from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import HubItem, OutboxItem
from chalicelib.ports import OutboxEvent


def connection() -> Connection:
    return HubItem._get_connection().connection


def write() -> TransactWrite:
    return TransactWrite(connection=connection())


def failed_checks(error: TransactWriteError) -> list[bool]:
    """For each item of a cancelled transaction: did its condition fail?"""
    return [reason is not None and reason.code == "ConditionalCheckFailed"
            for reason in (error.cancellation_reasons or [])]


def outbox_item(event: OutboxEvent, now_ms: int, ttl_s: int = 7 * 24 * 3600) -> OutboxItem:
    from chalicelib.adapters.dynamo import keys

    pk, sk = keys.outbox(event.type, event.key)
    return OutboxItem(pk, sk, event_type=event.type, community_id=event.community_id,
                      data=dict(event.data), created_at_ms=now_ms,
                      expires_at=now_ms // 1000 + ttl_s)
