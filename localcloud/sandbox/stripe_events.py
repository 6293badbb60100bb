"""Stripe webhook deliveries for the sandbox: signed as Stripe signs them, retried as Stripe retries them.

Each event is POSTed (``Content-Type: application/json; charset=utf-8``) with
``Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}" keyed with the whsec secret>``.
The body stays the same across attempts (same event id); the header is signed afresh for each attempt,
as Stripe does. A non-2xx answer, a redirect (never followed) or a failed connection is retried after
``RETRY_SCHEDULE_S`` (times ``retry_scale``) — an approximation of Stripe's exponential back-off over three
days — and then given up.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from localcloud.sandbox.callback_http import post_callback

#: waits before the 2nd, 3rd, ... attempt, in seconds
RETRY_SCHEDULE_S = (60, 300, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 86400)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """``t=...,v1=...`` exactly as Stripe computes it (the secret's UTF-8 bytes, ``whsec_`` prefix included)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class _Delivery:
    seq: int
    event_id: str
    event_type: str
    url: str
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    def describe(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "type": self.event_type, "url": self.url, "delivered": self.delivered,
                "gave_up": self.gave_up, "attempts": [dict(a) for a in self.attempts]}


class WebhookDeliveries:
    """A queue of signed event deliveries worked off by one background thread (started on demand)."""

    def __init__(self, secret: str, stopping: threading.Event, retry_scale: float, timeout_s: float) -> None:
        self.secret = secret
        self.retry_scale = retry_scale
        self.timeout_s = timeout_s
        self._stopping = stopping
        self._lock = threading.Condition()
        self._deliveries: dict[int, _Delivery] = {}
        self._due: list[tuple[float, int]] = []  # (monotonic due time, delivery seq): a heap
        self._seq = 0
        self._worker: threading.Thread | None = None

    def send(self, event_id: str, event_type: str, body: bytes, url: str, copies: int = 1,
             delay_s: float = 0.0) -> None:
        with self._lock:
            for _ in range(copies):
                self._seq += 1
                self._deliveries[self._seq] = _Delivery(self._seq, event_id, event_type, url, body)
                heapq.heappush(self._due, (time.monotonic() + delay_s, self._seq))
            self._lock.notify_all()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._deliver_due, name="stripe-webhooks", daemon=True)
                self._worker.start()

    def describe(self, event_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.describe() for d in self._deliveries.values() if event_id is None or d.event_id == event_id]

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._due.clear()
            self._lock.notify_all()

    def _deliver_due(self) -> None:
        """Deliver events as they fall due; ends when none are left or the server stops."""
        while True:
            with self._lock:
                if self._stopping.is_set() or not self._due:
                    if self._worker is threading.current_thread():
                        self._worker = None  # under the lock: send() then starts a new worker
                    return
                due, seq = self._due[0]
                if due > time.monotonic():
                    self._lock.wait(min(due - time.monotonic(), 0.1))
                    continue
                heapq.heappop(self._due)
                delivery = self._deliveries.get(seq)
            if delivery is not None:
                self._attempt(delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "Stripe-Signature": signature_header(self.secret, delivery.body, int(time.time()))}
        status, error = post_callback(delivery.url, delivery.body, headers, self.timeout_s)
        with self._lock:
            if self._deliveries.get(delivery.seq) is not delivery:  # reset meanwhile
                return
            delivery.attempts.append({"at_ms": int(time.time() * 1000), "status": status, "error": error})
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
            elif len(delivery.attempts) > len(RETRY_SCHEDULE_S):
                delivery.gave_up = True
            else:
                wait = RETRY_SCHEDULE_S[len(delivery.attempts) - 1] * self.retry_scale
                heapq.heappush(self._due, (time.monotonic() + wait, delivery.seq))
