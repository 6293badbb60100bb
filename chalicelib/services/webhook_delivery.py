"""Partner webhook delivery: one attempt per queue message, and the dispatcher of due deliveries.

Queue messages only say "look at delivery X now": the delivery item is the truth, and every change to
it is conditional on its version, so a duplicated or reordered queue message costs at most a duplicate
POST (receivers deduplicate by ``webhook-id``), never a lost or doubled bookkeeping step. A retry within
SQS's 15-minute delay goes back on the queue; a later one waits in the due index for ``dispatch_due``.
Every pending delivery also has a backstop in that index, ``BACKSTOP_MS`` after its message was due, so
a queue message that was lost (a failed send, a dead-lettered message) still gets its attempt.
"""

from __future__ import annotations

import dataclasses

from chalicelib.domain.webhooks import (
    ENDPOINT_DISABLED_EVENT,
    RESPONSE_HEAD_CHARS,
    SQS_MAX_DELAY_S,
    AttemptRecord,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    EndpointStatus,
    Outcome,
    WebhookEndpoint,
    decide,
    should_auto_disable,
)
from chalicelib.ports import DeliveryAttempt, OutboxEvent
from chalicelib.services.deps import Deps, WebhookDeps

#: a pending delivery nobody looked at this long after it was due is queued again by ``dispatch_due``
BACKSTOP_MS = 15 * 60 * 1000
#: queue messages arriving this early are duplicates of an attempt already made; they are ignored
EARLY_TOLERANCE_MS = 2000


def ports(deps: Deps) -> WebhookDeps:
    if deps.webhooks is None:
        raise RuntimeError("webhook delivery is not configured (Deps.webhooks)")
    return deps.webhooks


def deliver(deps: Deps, message_id: str) -> DeliveryStatus | None:
    """Make the attempt a queue message asked for, if it is (still) due. The delivery's status after it."""
    w = ports(deps)
    delivery = w.store.get_delivery(message_id)
    if delivery is None:
        return None
    now = deps.clock.now_ms()
    due_at = delivery.next_attempt_at_ms
    if delivery.status is not DeliveryStatus.PENDING or (due_at is not None and due_at > now + EARLY_TOLERANCE_MS):
        return delivery.status
    endpoint = w.store.get_endpoint(delivery.partner_id)
    if endpoint is None or endpoint.status is not EndpointStatus.ACTIVE:
        _end(w, delivery, DeliveryStatus.ENDPOINT_DISABLED)
        return DeliveryStatus.ENDPOINT_DISABLED
    headers = w.signer.headers(message_id, now // 1000, delivery.body, endpoint.signing_secrets(now))
    result = w.transport.post(endpoint.url, headers, delivery.body.encode())
    return _record(deps, w, delivery, endpoint, now, result)


def _record(deps: Deps, w: WebhookDeps, delivery: Delivery, endpoint: WebhookEndpoint, started_ms: int,
            result: DeliveryAttempt) -> DeliveryStatus:
    attempt = AttemptRecord(number=delivery.attempts + 1, at_ms=started_ms, status=result.status,
                            latency_ms=result.latency_ms, response_head=result.response_head[:RESPONSE_HEAD_CHARS],
                            error=result.error)
    decision = decide(delivery.attempts_in_round + 1, result, w.rand(), w.retry_scale)
    done_ms = deps.clock.now_ms()
    after = dataclasses.replace(delivery, attempts=attempt.number, last_status=result.status,
                                last_error=result.error, next_attempt_at_ms=None, wake_at_ms=None)
    disable_reason: str | None = None
    if decision.outcome is Outcome.DELIVERED:
        after = dataclasses.replace(after, status=DeliveryStatus.DELIVERED)
    elif decision.outcome is Outcome.DISABLE_ENDPOINT:
        after, disable_reason = dataclasses.replace(after, status=DeliveryStatus.ENDPOINT_DISABLED), DisabledReason.GONE
    elif should_auto_disable(endpoint.failing_since_ms, done_ms):
        after, disable_reason = dataclasses.replace(after, status=DeliveryStatus.ENDPOINT_DISABLED), \
            DisabledReason.FAILING
    elif decision.outcome is Outcome.GIVE_UP:
        after = dataclasses.replace(after, status=DeliveryStatus.FAILED)
    else:
        assert decision.delay_s is not None
        next_at = done_ms + decision.delay_s * 1000
        near = decision.delay_s <= SQS_MAX_DELAY_S
        after = dataclasses.replace(after, next_attempt_at_ms=next_at,
                                    wake_at_ms=next_at + BACKSTOP_MS if near else next_at)
    if not w.store.update_delivery(delivery, after, attempt):
        return DeliveryStatus.PENDING  # another worker made this attempt meanwhile: its bookkeeping stands
    if after.status is DeliveryStatus.DELIVERED:
        if endpoint.failing_since_ms is not None:
            w.store.clear_failing(endpoint.partner_id)
    elif endpoint.failing_since_ms is None:
        w.store.mark_failing(endpoint.partner_id, started_ms)
    if disable_reason is not None:
        _disable(w, endpoint, disable_reason, done_ms)
    elif after.status is DeliveryStatus.PENDING and decision.delay_s is not None \
            and decision.delay_s <= SQS_MAX_DELAY_S:
        w.queue.send(delivery.message_id, decision.delay_s)
    return after.status


def _end(w: WebhookDeps, delivery: Delivery, status: DeliveryStatus) -> None:
    w.store.update_delivery(delivery, dataclasses.replace(delivery, status=status, next_attempt_at_ms=None,
                                                          wake_at_ms=None))


def _disable(w: WebhookDeps, endpoint: WebhookEndpoint, reason: str, now_ms: int) -> None:
    """Disable the endpoint; the outbox event it writes alongside is the staff alert."""
    event = OutboxEvent(type=ENDPOINT_DISABLED_EVENT, community_id=endpoint.community_id,
                        key=f"{endpoint.partner_id}#{now_ms}",
                        data={"partner_id": endpoint.partner_id, "community_id": endpoint.community_id,
                              "reason": reason, "url": endpoint.url, "disabled_at_ms": now_ms})
    w.store.disable(endpoint.partner_id, reason, event, now_ms)


def dispatch_due(deps: Deps, limit: int = 100) -> int:
    """Queue every pending delivery whose wake time has passed; how many were queued.

    Each is first given a new wake time (a lease, conditional on its version) so the next run does not
    queue it again while its message is on the way.
    """
    w = ports(deps)
    now = deps.clock.now_ms()
    queued = 0
    for delivery in w.store.due(now, limit):
        lease = dataclasses.replace(delivery, wake_at_ms=now + BACKSTOP_MS)
        if delivery.status is DeliveryStatus.PENDING and w.store.update_delivery(delivery, lease):
            wait_ms = (delivery.next_attempt_at_ms or now) - now
            w.queue.send(delivery.message_id, max(0, min(SQS_MAX_DELAY_S, -(-wait_ms // 1000))))
            queued += 1
    return queued


