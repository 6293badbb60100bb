"""Partner webhooks: the guarded transport, the delivery store, queue and signer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.webhooks import AttemptRecord, Delivery, SigningSecret, WebhookEndpoint
from chalicelib.ports.core import (
    OutboxEvent,
    Page,
)


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one POST to a partner's endpoint came to."""

    status: int | None  # None: no HTTP answer (timeout, refused, blocked by the address guard)
    latency_ms: int
    response_head: str = ""  # the first 1 KB of the answer body
    error: str | None = None  # "timeout" | "connect_failed" | "unsafe_address: ..." | "redirect" | ...
    retry_after_s: int | None = None  # the Retry-After header, in seconds, when one was given


class WebhookTransport(Protocol):
    """POSTs a signed delivery: re-checks the URL, resolves the host once, refuses any non-public
    address (unless the stage allows loopback), connects to *that* IP (DNS rebinding cannot swap it),
    follows no redirects, 15 s timeout."""

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> DeliveryAttempt: ...


class UrlGuard(Protocol):
    def check(self, url: str) -> None:
        """Raise ``BadInput(code="unsafe_webhook_url")`` unless the URL is allowed for this stage and its
        host resolves only to allowed addresses."""


# ------------------------------------------------------------------------------------- webhook delivery
class WebhookStore(Protocol):
    """Partner webhook endpoints, deliveries and their attempt logs."""

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Raises ``Conflict(code="webhook_endpoint_exists")`` if the partner has one."""

    def get_endpoint(self, partner_id: str) -> WebhookEndpoint | None: ...

    def set_url(self, partner_id: str, url: str) -> None:
        """Raises ``NotFound(code="webhook_endpoint_not_found")``; so do the next three."""

    def set_secrets(self, partner_id: str, secrets: tuple[SigningSecret, ...]) -> None: ...

    def enable(self, partner_id: str) -> None:
        """Active again, with no failure history."""

    def mark_failing(self, partner_id: str, since_ms: int) -> None:
        """Start the endpoint's run of failures at ``since_ms`` unless one is already running."""

    def clear_failing(self, partner_id: str) -> None: ...

    def disable(self, partner_id: str, reason: str, event: OutboxEvent, now_ms: int) -> bool:
        """Disable an active endpoint and write ``event`` (the staff alert) in the same transaction;
        False (nothing written) if it was disabled already."""

    def create_delivery(self, delivery: Delivery) -> bool:
        """False, and nothing written, if a delivery with that message id exists."""

    def get_delivery(self, message_id: str) -> Delivery | None: ...

    def update_delivery(self, previous: Delivery, updated: Delivery, attempt: AttemptRecord | None = None) -> bool:
        """Store ``updated`` (and log ``attempt``) if the stored delivery is still at ``previous.version``;
        the stored version becomes ``previous.version + 1``. False, nothing written, otherwise."""

    def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Pending deliveries whose ``wake_at_ms`` has passed, oldest first."""

    def list_deliveries(self, partner_id: str, limit: int, cursor: str | None) -> Page[Delivery]:
        """A partner's deliveries, newest first."""

    def attempts(self, message_id: str) -> list[AttemptRecord]:
        """A delivery's attempt log (kept 30 days), oldest first."""

    def undelivered_since(self, partner_id: str, since_ms: int, limit: int) -> list[Delivery]:
        """Deliveries created at or after ``since_ms`` that ended ``failed`` or ``endpoint_disabled``."""


class DeliveryQueue(Protocol):
    def send(self, message_id: str, delay_s: int = 0) -> None:
        """Ask the sender to attempt this delivery in ``delay_s`` seconds (at most ``SQS_MAX_DELAY_S``)."""


class WebhookSigner(Protocol):
    def headers(self, message_id: str, timestamp_s: int, body: str, secrets: Sequence[str]) -> dict[str, str]:
        """``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (one ``v1,…`` per secret) and
        ``content-type``."""
