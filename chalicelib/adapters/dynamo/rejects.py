"""Reject records (device dead letters), per community, newest first."""

from __future__ import annotations

import hashlib

from chalicelib.adapters.dynamo import keys
from chalicelib.adapters.dynamo.models import RejectItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.rejects import Reject, RejectReason
from chalicelib.ports import Page


class DynamoRejects:
    def __init__(self, ttl_s: int) -> None:
        self._ttl_s = ttl_s

    def add(self, reject: Reject) -> None:
        """Keyed by receipt time and content, so a redelivered SQS message rewrites the same record."""
        digest = hashlib.sha256(
            f"{reject.topic}\n{reject.client_id}\n{reject.payload}".encode()).hexdigest()[:16]
        RejectItem(
            keys.rejects_of(reject.community_id), f"{reject.received_at_ms:013d}#{digest}",
            community_id=reject.community_id, thing_name=reject.thing_name, kind=reject.kind,
            reason=reject.reason.value, detail=reject.detail, received_at_ms=reject.received_at_ms,
            payload=reject.payload, topic=reject.topic, client_id=reject.client_id,
            event_id=reject.event_id, expires_at=reject.received_at_ms // 1000 + self._ttl_s,
        ).save()

    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Reject]:
        partition = keys.rejects_of(community_id)
        result = RejectItem.query(partition, scan_index_forward=False, limit=limit,
                                  last_evaluated_key=decode_cursor(cursor, "pk", partition))
        items = [
            Reject(community_id=item.community_id, thing_name=item.thing_name, kind=item.kind,
                   reason=RejectReason(item.reason), detail=item.detail,
                   received_at_ms=int(item.received_at_ms), payload=item.payload, topic=item.topic,
                   client_id=item.client_id, event_id=item.event_id)
            for item in result
        ]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))
