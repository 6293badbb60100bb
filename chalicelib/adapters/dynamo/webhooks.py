"""Partner webhook endpoints, deliveries and attempt logs in the hub table (layout: webhook_models.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo import txn
from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.webhook_models import (
    DUE_SHARDS,
    AttemptItem,
    DeliveryItem,
    WebhookEndpointItem,
    attempt_sk,
    deliveries_of,
    delivery_key,
    due_partition,
    endpoint_key,
)
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.webhooks import (
    AttemptRecord,
    Delivery,
    DeliveryStatus,
    EndpointStatus,
    SigningSecret,
    WebhookEndpoint,
)
from chalicelib.ports import OutboxEvent, Page

#: deliveries and their attempt logs are kept this long after their last attempt was due
KEEP_S = 30 * 24 * 3600
_CONDITION_FAILED = "ConditionalCheckFailedException"


def _shard(message_id: str) -> int:
    return hashlib.sha256(message_id.encode()).digest()[0] % DUE_SHARDS


def _sort(at_ms: int, message_id: str) -> str:
    return f"{at_ms:013d}#{message_id}"


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def to_endpoint(item: WebhookEndpointItem) -> WebhookEndpoint:
    secrets = tuple(SigningSecret(str(s["secret"]), _opt_int(s.get("expires_at_ms"))) for s in item.secrets)
    return WebhookEndpoint(
        partner_id=item.partner_id, community_id=item.community_id, url=item.url, secrets=secrets,
        status=EndpointStatus(item.status), created_at_ms=int(item.created_at_ms),
        disabled_reason=item.disabled_reason, failing_since_ms=_opt_int(item.failing_since_ms))


def _secrets_json(secrets: tuple[SigningSecret, ...]) -> list[dict[str, Any]]:
    return [{"secret": s.secret, "expires_at_ms": s.expires_at_ms} for s in secrets]


def to_delivery(item: DeliveryItem) -> Delivery:
    return Delivery(
        message_id=item.message_id, partner_id=item.partner_id, community_id=item.community_id,
        event_type=item.event_type, body=item.body, created_at_ms=int(item.created_at_ms),
        status=DeliveryStatus(item.status), next_attempt_at_ms=_opt_int(item.next_attempt_at_ms),
        wake_at_ms=_opt_int(item.wake_at_ms), attempts=int(item.attempts), round_start=int(item.round_start),
        last_status=_opt_int(item.last_status), last_error=item.last_error, version=int(item.version))


def to_attempt(item: AttemptItem) -> AttemptRecord:
    return AttemptRecord(number=int(item.number), at_ms=int(item.at_ms), status=_opt_int(item.status),
                         latency_ms=int(item.latency_ms), response_head=item.response_head or "",
                         error=item.error)


def _expires_at(delivery: Delivery) -> int:
    return max(delivery.created_at_ms, delivery.next_attempt_at_ms or 0) // 1000 + KEEP_S


def _state_actions(delivery: Delivery, version: int) -> list[Action]:
    """Everything about a delivery that changes after it is created; None removes the attribute."""
    d = DeliveryItem
    optional: list[tuple[Any, Any]] = [
        (d.next_attempt_at_ms, delivery.next_attempt_at_ms), (d.wake_at_ms, delivery.wake_at_ms),
        (d.last_status, delivery.last_status), (d.last_error, delivery.last_error)]
    actions: list[Action] = [d.status.set(delivery.status.value), d.attempts.set(delivery.attempts),
                             d.round_start.set(delivery.round_start), d.version.set(version),
                             d.expires_at.set(_expires_at(delivery))]
    actions += [attr.set(value) if value is not None else attr.remove() for attr, value in optional]
    if delivery.wake_at_ms is not None and delivery.status is DeliveryStatus.PENDING:
        actions += [d.gsi2pk.set(due_partition(_shard(delivery.message_id))),
                    d.gsi2sk.set(_sort(delivery.wake_at_ms, delivery.message_id))]
    else:
        actions += [d.gsi2pk.remove(), d.gsi2sk.remove()]
    return actions


class DynamoWebhookStore:
    # ---------------------------------------------------------------------------------- endpoints
    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        pk, sk = endpoint_key(endpoint.partner_id)
        item = WebhookEndpointItem(
            pk, sk, partner_id=endpoint.partner_id, community_id=endpoint.community_id, url=endpoint.url,
            secrets=_secrets_json(endpoint.secrets), status=endpoint.status.value,
            created_at_ms=endpoint.created_at_ms)
        try:
            item.save(condition=HubItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise Conflict("the partner has a webhook endpoint already", code="webhook_endpoint_exists") from exc
            raise

    def get_endpoint(self, partner_id: str) -> WebhookEndpoint | None:
        try:
            return to_endpoint(WebhookEndpointItem.get(*endpoint_key(partner_id), consistent_read=True))
        except WebhookEndpointItem.DoesNotExist:
            return None

    def _update_endpoint(self, partner_id: str, actions: list[Action]) -> None:
        try:
            WebhookEndpointItem(*endpoint_key(partner_id)).update(actions=actions, condition=HubItem.pk.exists())
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise NotFound("the partner has no webhook endpoint", code="webhook_endpoint_not_found") from exc
            raise

    def set_url(self, partner_id: str, url: str) -> None:
        self._update_endpoint(partner_id, [WebhookEndpointItem.url.set(url)])

    def set_secrets(self, partner_id: str, secrets: tuple[SigningSecret, ...]) -> None:
        self._update_endpoint(partner_id, [WebhookEndpointItem.secrets.set(_secrets_json(secrets))])

    def enable(self, partner_id: str) -> None:
        e = WebhookEndpointItem
        self._update_endpoint(partner_id, [e.status.set(EndpointStatus.ACTIVE.value), e.disabled_reason.remove(),
                                           e.disabled_at_ms.remove(), e.failing_since_ms.remove()])

    def mark_failing(self, partner_id: str, since_ms: int) -> None:
        e = WebhookEndpointItem
        self._update_endpoint(partner_id, [e.failing_since_ms.set(e.failing_since_ms | since_ms)])

    def clear_failing(self, partner_id: str) -> None:
        self._update_endpoint(partner_id, [WebhookEndpointItem.failing_since_ms.remove()])

    def disable(self, partner_id: str, reason: str, event: OutboxEvent, now_ms: int) -> bool:
        e = WebhookEndpointItem
        pk, sk = endpoint_key(partner_id)
        tw = txn.write()
        try:
            with tw:
                tw.update(WebhookEndpointItem(pk, sk),
                          actions=[e.status.set(EndpointStatus.DISABLED.value), e.disabled_reason.set(reason),
                                   e.disabled_at_ms.set(now_ms)],
                          condition=e.status == EndpointStatus.ACTIVE.value)
                tw.save(txn.outbox_item(event, now_ms))
        except TransactWriteError as exc:
            if pk in txn.failed_keys(tw, exc):
                return False
            raise
        return True

    # --------------------------------------------------------------------------------- deliveries
    def create_delivery(self, delivery: Delivery) -> bool:
        pk, sk = delivery_key(delivery.message_id)
        item = DeliveryItem(
            pk, sk, message_id=delivery.message_id, partner_id=delivery.partner_id,
            community_id=delivery.community_id, event_type=delivery.event_type, body=delivery.body,
            created_at_ms=delivery.created_at_ms, status=delivery.status.value,
            next_attempt_at_ms=delivery.next_attempt_at_ms, wake_at_ms=delivery.wake_at_ms,
            attempts=delivery.attempts, round_start=delivery.round_start, version=delivery.version,
            expires_at=_expires_at(delivery), gsi1pk=deliveries_of(delivery.partner_id),
            gsi1sk=_sort(delivery.created_at_ms, delivery.message_id))
        if delivery.wake_at_ms is not None and delivery.status is DeliveryStatus.PENDING:
            item.gsi2pk = due_partition(_shard(delivery.message_id))
            item.gsi2sk = _sort(delivery.wake_at_ms, delivery.message_id)
        try:
            item.save(condition=HubItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True

    def get_delivery(self, message_id: str) -> Delivery | None:
        try:
            return to_delivery(DeliveryItem.get(*delivery_key(message_id), consistent_read=True))
        except DeliveryItem.DoesNotExist:
            return None

    def update_delivery(self, previous: Delivery, updated: Delivery, attempt: AttemptRecord | None = None) -> bool:
        pk, sk = delivery_key(previous.message_id)
        actions = _state_actions(updated, previous.version + 1)
        condition = DeliveryItem.version == previous.version
        if attempt is None:
            try:
                DeliveryItem(pk, sk).update(actions=actions, condition=condition)
            except UpdateError as exc:
                if exc.cause_response_code == _CONDITION_FAILED:
                    return False
                raise
            return True
        log = AttemptItem(pk, attempt_sk(attempt.number), message_id=previous.message_id, number=attempt.number,
                          at_ms=attempt.at_ms, status=attempt.status, latency_ms=attempt.latency_ms,
                          response_head=attempt.response_head or None, error=attempt.error,
                          expires_at=attempt.at_ms // 1000 + KEEP_S)
        tw = txn.write()
        try:
            with tw:
                tw.update(DeliveryItem(pk, sk), actions=actions, condition=condition)
                tw.save(log)
        except TransactWriteError as exc:
            if pk in txn.failed_keys(tw, exc):
                return False
            raise
        return True

    def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Each shard read oldest first, then merged."""
        found: list[Delivery] = []
        for shard in range(DUE_SHARDS):
            for item in HubItem.by_gsi2.query(due_partition(shard), HubItem.gsi2sk <= f"{now_ms:013d}~",
                                              limit=limit):
                if isinstance(item, DeliveryItem):
                    found.append(to_delivery(item))
        return sorted(found, key=lambda d: (d.wake_at_ms or 0, d.message_id))[:limit]

    def list_deliveries(self, partner_id: str, limit: int, cursor: str | None) -> Page[Delivery]:
        partition = deliveries_of(partner_id)
        result = HubItem.by_gsi1.query(partition, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, "gsi1pk", partition))
        items = [to_delivery(item) for item in result if isinstance(item, DeliveryItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    def attempts(self, message_id: str) -> list[AttemptRecord]:
        pk, _ = delivery_key(message_id)
        return [to_attempt(item) for item in HubItem.query(pk, HubItem.sk.startswith("A#"))
                if isinstance(item, AttemptItem)]

    def undelivered_since(self, partner_id: str, since_ms: int, limit: int) -> list[Delivery]:
        replayable = [s.value for s in DeliveryStatus if s.replayable]
        found: list[Delivery] = []
        for item in HubItem.by_gsi1.query(deliveries_of(partner_id), HubItem.gsi1sk >= f"{since_ms:013d}",
                                          filter_condition=DeliveryItem.status.is_in(*replayable)):
            if isinstance(item, DeliveryItem):
                found.append(to_delivery(item))
                if len(found) >= limit:
                    break
        return found
