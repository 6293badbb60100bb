"""Service orders: one item per order, written with its money, outbox events and markers in one
transaction, conditional on the version the decision was made from (optimistic concurrency)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.dynamo import keys, txn
from chalicelib.adapters.dynamo.ledger import add_transfer
from chalicelib.adapters.dynamo.models import (
    HubItem,
    IdempotencyItem,
    NotificationSeenItem,
    OrderItem,
    PartnerOrderItem,
)
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.orders import (
    OPEN,
    STAFF,
    WAITING_FOR_STAFF,
    Order,
    OrderStatus,
    Provider,
    RefundStatus,
)
from chalicelib.ports import IdempotencyReused, OrderWrite, Page, SaveOutcome

IDEMPOTENCY_TTL_S = 7 * 24 * 3600
MARKER_TTL_S = 30 * 24 * 3600


def _shard(order_id: str) -> int:
    return hashlib.sha256(order_id.encode()).digest()[0] % keys.ORDER_QUEUE_SHARDS


def to_data(order: Order) -> dict[str, Any]:
    data = asdict(order)
    data["history"] = [list(h) for h in order.history]
    data["tried"] = list(order.tried)
    return data


def to_order(item: OrderItem) -> Order:
    data = dict(item.data)
    data["status"] = OrderStatus(data["status"])
    data["provider"] = Provider(data["provider"]) if data.get("provider") else None
    data["refund"] = RefundStatus(data["refund"]) if data.get("refund") else None
    data["history"] = tuple((str(s), int(at), str(by)) for s, at, by in data.get("history") or [])
    data["tried"] = tuple(data.get("tried") or ())
    return Order(**data)


def _work_queue(order: Order) -> tuple[str, str] | None:
    """Which sparse index the order sits in while something is due (gsi2)."""
    if order.status is OrderStatus.OFFERED and order.partner_id and order.offer_deadline_ms is not None:
        return keys.offer_due(_shard(order.order_id)), f"{order.offer_deadline_ms:013d}#{order.order_id}"
    waiting_for_staff = order.status in WAITING_FOR_STAFF or (order.assignee == STAFF and order.status in OPEN)
    if waiting_for_staff:
        return keys.staff_work(order.community_id), f"{order.created_at_ms:013d}#{order.order_id}"
    if order.status is OrderStatus.PENDING_PAYMENT:
        return keys.payment_due(_shard(order.order_id)), f"{order.created_at_ms:013d}#{order.order_id}"
    if order.refund is RefundStatus.PENDING:
        return keys.refund_due(_shard(order.order_id)), f"{order.updated_at_ms:013d}#{order.order_id}"
    return None


class DynamoOrders:
    def save(self, write: OrderWrite) -> SaveOutcome:
        order = write.order
        pk, sk = keys.order(order.order_id)
        queue = _work_queue(order)
        item = OrderItem(pk, sk, order_id=order.order_id, status=order.status.value, version=order.version,
                         data=to_data(order), gsi1pk=keys.orders_of(order.resident_id),
                         gsi1sk=f"{order.created_at_ms:013d}#{order.order_id}",
                         gsi2pk=queue[0] if queue else None, gsi2sk=queue[1] if queue else None)
        condition = HubItem.pk.does_not_exist() if write.expected_version is None \
            else OrderItem.version == write.expected_version
        marker_pk = idem_pk = idem_sk = None
        tw = txn.write()
        try:
            with tw:
                tw.save(item, condition=condition)
                for transfer in write.transfers:
                    add_transfer(tw, transfer)
                for event in write.events:
                    tw.save(txn.outbox_item(event, order.updated_at_ms))
                if write.link_partner:
                    tw.save(PartnerOrderItem(keys.partner_orders(write.link_partner),
                                             f"{order.created_at_ms:013d}#{order.order_id}", order_id=order.order_id))
                if write.applied_marker:
                    marker_pk, marker_sk = keys.applied(write.applied_marker)
                    tw.save(NotificationSeenItem(marker_pk, marker_sk, received_at_ms=order.updated_at_ms,
                                                 expires_at=order.updated_at_ms // 1000 + MARKER_TTL_S),
                            condition=HubItem.pk.does_not_exist())
                if write.idempotency is not None:
                    key, request_hash = write.idempotency
                    idem_pk, idem_sk = keys.idempotency(order.resident_id, key)
                    tw.save(IdempotencyItem(idem_pk, idem_sk, request_hash=request_hash, resource_id=order.order_id,
                                            expires_at=order.created_at_ms // 1000 + IDEMPOTENCY_TTL_S),
                            condition=HubItem.pk.does_not_exist())
        except TransactWriteError as exc:
            failed = txn.failed_keys(tw, exc)
            if idem_pk is not None and idem_pk in failed:
                stored = IdempotencyItem.get(idem_pk, idem_sk, consistent_read=True)
                raise IdempotencyReused(stored.request_hash, stored.resource_id) from exc
            if marker_pk is not None and marker_pk in failed:
                return SaveOutcome.ALREADY_APPLIED
            if pk in failed:
                return SaveOutcome.CONFLICT
            raise
        return SaveOutcome.SAVED

    def get(self, order_id: str) -> Order | None:
        pk, sk = keys.order(order_id)
        try:
            return to_order(OrderItem.get(pk, sk, consistent_read=True))
        except OrderItem.DoesNotExist:
            return None

    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Order]:
        partition = keys.orders_of(resident_id)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        items = [to_order(item) for item in result if isinstance(item, OrderItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def list_for_partner(self, partner_id: str, limit: int, cursor: str | None) -> Page[Order]:
        partition = keys.partner_orders(partner_id)
        result = HubItem.query(partition, scan_index_forward=False, limit=limit,
                               last_evaluated_key=decode_cursor(cursor, "pk", partition))
        order_ids = [item.order_id for item in result if isinstance(item, PartnerOrderItem)]
        orders = self._batch(order_ids)
        return Page(items=[orders[oid] for oid in order_ids if oid in orders],
                    next_cursor=encode_cursor(result.last_evaluated_key))

    def _batch(self, order_ids: list[str]) -> dict[str, Order]:
        found: dict[str, Order] = {}
        if order_ids:
            for item in OrderItem.batch_get([keys.order(oid) for oid in order_ids]):
                found[item.order_id] = to_order(item)
        return found

    def staff_work(self, community_id: str, limit: int, cursor: str | None) -> Page[Order]:
        partition = keys.staff_work(community_id)
        result = HubItem.by_gsi2.query(partition, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi2pk", partition))
        items = [to_order(item) for item in result if isinstance(item, OrderItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def due_offers(self, now_ms: int, limit: int) -> list[Order]:
        return self._due([keys.offer_due(n) for n in range(keys.ORDER_QUEUE_SHARDS)], now_ms, limit)

    def payments_due(self, created_before_ms: int, limit: int) -> list[Order]:
        return self._due([keys.payment_due(n) for n in range(keys.ORDER_QUEUE_SHARDS)], created_before_ms, limit)

    def refunds_pending(self, limit: int) -> list[Order]:
        return self._due([keys.refund_due(n) for n in range(keys.ORDER_QUEUE_SHARDS)], None, limit)

    @staticmethod
    def _due(partitions: list[str], before_ms: int | None, limit: int) -> list[Order]:
        found: list[Order] = []
        for partition in partitions:
            condition = HubItem.gsi2sk <= f"{before_ms:013d}~" if before_ms is not None else None
            for item in HubItem.by_gsi2.query(partition, condition, limit=limit):
                if isinstance(item, OrderItem):
                    found.append(to_order(item))
        return found[:limit * len(partitions)]
