"""Write helpers shared by the repositories: transactions, their failed conditions, outbox items."""

from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import HubItem, OutboxItem
from chalicelib.ports import OutboxEvent


def connection() -> Connection:
    return HubItem._get_connection().connection


def write() -> TransactWrite:
    return TransactWrite(connection=connection())


def condition_failed(exc: PynamoDBException) -> bool:
    """Whether a single-item write (put, update, delete) was refused by its condition, not by a fault."""
    return exc.cause_response_code == "ConditionalCheckFailedException"


def failed_keys(tw: TransactWrite, error: TransactWriteError) -> set[str]:
    """The ``pk`` of every item whose condition failed in a cancelled transaction.

    PynamoDB sends condition checks, deletes, puts and updates in that order, whatever order they were
    added in, so cancellation reasons are matched back to items by key, never by position.
    """
    sent = [*tw._condition_check_items, *tw._delete_items, *tw._put_items, *tw._update_items]
    failed = set()
    for item, reason in zip(sent, error.cancellation_reasons or [], strict=False):
        if reason is not None and reason.code == "ConditionalCheckFailed":
            key = item.get("Key") or item.get("Item") or {}
            failed.add(str(key.get("pk", {}).get("S")))
    return failed


def outbox_item(event: OutboxEvent, now_ms: int, ttl_s: int = 7 * 24 * 3600) -> OutboxItem:
    from chalicelib.adapters.dynamo import keys

    pk, sk = keys.outbox(event.type, event.key)
    return OutboxItem(pk, sk, event_type=event.type, community_id=event.community_id,
                      data=dict(event.data), created_at_ms=now_ms,
                      expires_at=now_ms // 1000 + ttl_s)
