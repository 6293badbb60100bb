"""Partner webhooks (Standard Webhooks): endpoints, deliveries, and when to try a delivery again.

Life of a delivery: ``pending`` (created from an outbox event, first attempt at once) → ``delivered``
(a 2xx within 15 s) or, after retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later (8 attempts in
all), ``failed``. A 410 answer, or an endpoint that has failed for 5 days, disables the endpoint; its
deliveries end as ``endpoint_disabled``. A partner may replay ``failed`` / ``endpoint_disabled``
deliveries: each gets a fresh set of attempts under the same message id (``webhook-id``), so a receiver
that deduplicates by id never acts twice.

Pure standard library: signing, storage and HTTP live in adapters.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

#: seconds to wait before retry n (after attempt n); at most len + 1 attempts per round
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1
#: SQS cannot delay a message longer; later retries wait in the due index for the dispatcher
SQS_MAX_DELAY_S = 900
#: a delivery's retry is spread this much either side of its scheduled time (thundering herds)
JITTER = 0.1
AUTO_DISABLE_AFTER_MS = 5 * 24 * 3600 * 1000
ATTEMPT_TIMEOUT_S = 15
#: after a rotation the previous secret keeps signing (alongside the new one) this long
SECRET_OVERLAP_MS = 24 * 3600 * 1000
RETRY_AFTER_STATUSES = frozenset({429, 502, 504})
GONE = 410
#: how much of a partner's answer an attempt log keeps
RESPONSE_HEAD_CHARS = 1024
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MESSAGE_PREFIX = "msg_"
ENDPOINT_DISABLED_EVENT = "partner.endpoint_disabled"


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DisabledReason(StrEnum):
    GONE = "gone"  # the endpoint answered 410
    FAILING = "failing"  # every attempt failed for AUTO_DISABLE_AFTER_MS
    STAFF = "staff"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    ENDPOINT_DISABLED = "endpoint_disabled"

    @property
    def replayable(self) -> bool:
        return self in (DeliveryStatus.FAILED, DeliveryStatus.ENDPOINT_DISABLED)


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    expires_at_ms: int | None = None  # None: the current secret


@dataclass(frozen=True)
class WebhookEndpoint:
    partner_id: str
    community_id: str
    url: str
    secrets: tuple[SigningSecret, ...]
    status: EndpointStatus
    created_at_ms: int
    disabled_reason: str | None = None
    #: when the first of an unbroken run of failed attempts happened; None after a success
    failing_since_ms: int | None = None

    def signing_secrets(self, now_ms: int) -> list[str]:
        """Every secret that still signs, the current one first."""
        return [s.secret for s in self.secrets if s.expires_at_ms is None or s.expires_at_ms > now_ms]


@dataclass(frozen=True)
class Delivery:
    message_id: str
    partner_id: str
    community_id: str
    event_type: str
    body: str  # the exact JSON sent (and signed) on every attempt
    created_at_ms: int
    status: DeliveryStatus
    next_attempt_at_ms: int | None
    #: when the hub must look at a pending delivery if no queue message made it (the due index)
    wake_at_ms: int | None
    attempts: int = 0  # attempts made, over every round
    round_start: int = 0  # ``attempts`` when the current round (first send or a replay) began
    last_status: int | None = None
    last_error: str | None = None
    version: int = 0

    @property
    def attempts_in_round(self) -> int:
        return self.attempts - self.round_start


@dataclass(frozen=True)
class AttemptRecord:
    number: int  # 1, 2, … over the delivery's whole life
    at_ms: int
    status: int | None
    latency_ms: int
    response_head: str = ""
    error: str | None = None


class AttemptResult(Protocol):
    """What ``decide`` needs of an attempt (``chalicelib.ports.DeliveryAttempt`` has it)."""

    @property
    def status(self) -> int | None: ...

    @property
    def retry_after_s(self) -> int | None: ...


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"
    DISABLE_ENDPOINT = "disable_endpoint"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    delay_s: int | None = None  # with RETRY: seconds until the next attempt


def decide(attempts_made: int, attempt: AttemptResult, rand: float, scale: float = 1.0) -> Decision:
    """What to do after the ``attempts_made``-th attempt of a round came to ``attempt``.

    The n-th retry waits ``RETRY_SCHEDULE_S[n-1] × scale``, spread by ±``JITTER`` (``rand`` in [0, 1)
    maps linearly onto [-10 %, +10 %)). A 429/502/504 with ``Retry-After`` waits at least that long,
    but never longer than the schedule's last step: a partner cannot park its messages for days.
    ``scale`` shortens the schedule on the local stage; it never shortens a partner's Retry-After.
    """
    status = attempt.status
    if status is not None and 200 <= status < 300:
        return Decision(Outcome.DELIVERED)
    if status == GONE:
        return Decision(Outcome.DISABLE_ENDPOINT)
    if attempts_made >= MAX_ATTEMPTS:
        return Decision(Outcome.GIVE_UP)
    scheduled = RETRY_SCHEDULE_S[attempts_made - 1] * scale * (1 + JITTER * (2 * rand - 1))
    delay = scheduled
    if status in RETRY_AFTER_STATUSES and attempt.retry_after_s is not None:
        delay = max(scheduled, min(attempt.retry_after_s, RETRY_SCHEDULE_S[-1]))
    return Decision(Outcome.RETRY, max(0, math.ceil(delay)))


def should_auto_disable(failing_since_ms: int | None, now_ms: int) -> bool:
    return failing_since_ms is not None and now_ms - failing_since_ms >= AUTO_DISABLE_AFTER_MS


def new_secret() -> str:
    """``whsec_`` + 24 random bytes, base64 (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def rotated(current: tuple[SigningSecret, ...], fresh: str, now_ms: int) -> tuple[SigningSecret, ...]:
    """The new secret becomes current; the old current one signs alongside it for a day; expired ones go."""
    kept = [SigningSecret(s.secret, now_ms + SECRET_OVERLAP_MS) if s.expires_at_ms is None else s
            for s in current if s.expires_at_ms is None or s.expires_at_ms > now_ms]
    return (SigningSecret(fresh), *kept)


def message_id_for(key: str) -> str:
    """A stable ``webhook-id`` for a business event (e.g. an outbox item's key and the partner):
    the same event handed over twice is one message."""
    return MESSAGE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def iso_utc(ms: int | None) -> str | None:
    """``2026-01-01T00:00:00.000Z``"""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_body(event_type: str, at_ms: int, data: Mapping[str, Any]) -> str:
    """``{"type", "timestamp", "data"}``, compact; ``timestamp`` is when the event happened (ISO-8601 UTC)."""
    return json.dumps({"type": event_type, "timestamp": iso_utc(at_ms), "data": dict(data)},
                      separators=(",", ":"), ensure_ascii=False)
