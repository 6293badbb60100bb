"""Partner webhooks as staff and partners see them: endpoints, handing events over, listing, replay.

Path of a message: an outbox event → ``enqueue`` (creates the delivery, queues its first attempt) →
the delivery queue → ``webhook_delivery.deliver`` (one attempt: sign, POST, log; then done, or the
next attempt is scheduled) — see that module for retries.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.webhooks import (
    AttemptRecord,
    Delivery,
    DeliveryStatus,
    EndpointStatus,
    SigningSecret,
    WebhookEndpoint,
    iso_utc,
    new_secret,
    render_body,
    rotated,
)
from chalicelib.ports import Page
from chalicelib.services.deps import Deps, WebhookDeps
from chalicelib.services.webhook_delivery import BACKSTOP_MS
from chalicelib.services.webhook_delivery import ports as _ports

#: one replay call reopens at most this many deliveries; calling again continues where it stopped
REPLAY_MAX = 500


@dataclass(frozen=True)
class DeliveryReport:
    delivery: Delivery
    attempts: list[AttemptRecord]


# ------------------------------------------------------------------------------------- endpoints
def check_url(deps: Deps, url: str) -> None:
    """``BadInput(code="unsafe_webhook_url")`` unless the hub may POST to ``url`` on this stage."""
    _ports(deps).guard.check(url)


def register_endpoint(deps: Deps, partner_id: str, community_id: str, url: str) -> str:
    """Check the URL, store the endpoint and return its signing secret — the only time it is shown."""
    w = _ports(deps)
    w.guard.check(url)
    secret = new_secret()
    w.store.add_endpoint(WebhookEndpoint(
        partner_id=partner_id, community_id=community_id, url=url, secrets=(SigningSecret(secret),),
        status=EndpointStatus.ACTIVE, created_at_ms=deps.clock.now_ms()))
    return secret


def get_endpoint(deps: Deps, partner_id: str) -> WebhookEndpoint | None:
    """The endpoint, secrets included: callers show the URL and status, never the secrets."""
    return _ports(deps).store.get_endpoint(partner_id)


def endpoint_health(deps: Deps, partner_id: str) -> dict[str, Any] | None:
    """What staff see of an endpoint (never its secrets); None if the partner has none."""
    endpoint = _ports(deps).store.get_endpoint(partner_id)
    if endpoint is None:
        return None
    return {"url": endpoint.url, "status": endpoint.status.value, "disabled_reason": endpoint.disabled_reason,
            "failing_since": iso_utc(endpoint.failing_since_ms)}


def _endpoint(w: WebhookDeps, partner_id: str) -> WebhookEndpoint:
    endpoint = w.store.get_endpoint(partner_id)
    if endpoint is None:
        raise NotFound("the partner has no webhook endpoint", code="webhook_endpoint_not_found")
    return endpoint


def rotate_secret(deps: Deps, partner_id: str) -> str:
    """A new secret (returned once); the previous one keeps signing alongside it for 24 h."""
    w = _ports(deps)
    endpoint = _endpoint(w, partner_id)
    secret = new_secret()
    w.store.set_secrets(partner_id, rotated(endpoint.secrets, secret, deps.clock.now_ms()))
    return secret


def set_endpoint_url(deps: Deps, partner_id: str, url: str) -> None:
    """A new URL, checked; the endpoint is active again with a clean failure record."""
    w = _ports(deps)
    w.guard.check(url)
    w.store.set_url(partner_id, url)
    w.store.enable(partner_id)


def enable_endpoint(deps: Deps, partner_id: str) -> None:
    """Active again with a clean failure record; deliveries that ended meanwhile come back by replay."""
    _ports(deps).store.enable(partner_id)


# ------------------------------------------------------------------------------------- delivering
def enqueue(deps: Deps, partner_id: str, community_id: str, event_type: str, data: Mapping[str, Any],
            message_id: str) -> Delivery | None:
    """Create the delivery and queue its first attempt. None when there is nothing to do: the partner
    has no endpoint, or this message id was enqueued before (a redelivered stream record)."""
    w = _ports(deps)
    endpoint = w.store.get_endpoint(partner_id)
    if endpoint is None:
        return None
    now = deps.clock.now_ms()
    active = endpoint.status is EndpointStatus.ACTIVE
    delivery = Delivery(
        message_id=message_id, partner_id=partner_id, community_id=community_id, event_type=event_type,
        body=render_body(event_type, now, data), created_at_ms=now,
        status=DeliveryStatus.PENDING if active else DeliveryStatus.ENDPOINT_DISABLED,
        next_attempt_at_ms=now if active else None, wake_at_ms=now + BACKSTOP_MS if active else None)
    if not w.store.create_delivery(delivery):
        return None
    if active:
        w.queue.send(message_id, 0)
    return delivery


# ---------------------------------------------------------------------------------- partner views
def list_deliveries(deps: Deps, partner_id: str, limit: int = 20, cursor: str | None = None) -> Page[DeliveryReport]:
    """The partner's deliveries, newest first, each with its attempt log (one query per delivery)."""
    w = _ports(deps)
    page = w.store.list_deliveries(partner_id, limit, cursor)
    return Page(items=[DeliveryReport(d, w.store.attempts(d.message_id)) for d in page.items],
                next_cursor=page.next_cursor)


def deliveries_page(deps: Deps, partner_id: str, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """``GET /v1/partner/deliveries``: ``{"items": [...], "next_cursor"}``, newest first."""
    page = list_deliveries(deps, partner_id, limit, cursor)
    return {"items": [delivery_view(r) for r in page.items], "next_cursor": page.next_cursor}


def delivery_view(report: DeliveryReport) -> dict[str, Any]:
    d = report.delivery
    return {
        "message_id": d.message_id, "event_type": d.event_type, "status": d.status.value,
        "created_at": iso_utc(d.created_at_ms), "next_attempt_at": iso_utc(d.next_attempt_at_ms),
        "payload": json.loads(d.body),
        "attempts": [{"attempt": a.number, "at": iso_utc(a.at_ms), "status": a.status, "latency_ms": a.latency_ms,
                      "response": a.response_head, "error": a.error} for a in report.attempts],
    }


def replay_since(deps: Deps, partner_id: str, since_ms: int) -> int:
    """Send again every delivery created since ``since_ms`` that ended undelivered, under its own
    ``webhook-id`` and with a fresh set of attempts; how many were reopened (at most ``REPLAY_MAX``)."""
    w = _ports(deps)
    if _endpoint(w, partner_id).status is not EndpointStatus.ACTIVE:
        raise Conflict("the webhook endpoint is disabled; ask staff to enable it first",
                       code="webhook_endpoint_disabled")
    now = deps.clock.now_ms()
    reopened = 0
    for delivery in w.store.undelivered_since(partner_id, since_ms, REPLAY_MAX):
        again = dataclasses.replace(delivery, status=DeliveryStatus.PENDING, round_start=delivery.attempts,
                                    next_attempt_at_ms=now, wake_at_ms=now + BACKSTOP_MS)
        if w.store.update_delivery(delivery, again):
            w.queue.send(delivery.message_id, 0)
            reopened += 1
    return reopened
