"""WeChat Pay notifications as WeChat sends them, shared by transfer bills, payments and refunds.

The resource is AES-256-GCM encrypted with the APIv3 key, the envelope signed with the platform key and
posted from a background thread; a non-2xx answer or a failed connection is retried after 15 s, 15 s, 30 s,
3 min, 10 min, 20 min, 30 min, 30 min, 30 min, 60 min, 3 h, 3 h, 3 h, 6 h, 6 h (times ``retry_scale``),
re-signed each time, with the same notification ``id``. Redirects are not followed.

Fault point ``wechatpay.callback``: ``duplicate`` (deliver the notification twice, same id) or ``delay``
(first attempt after ``delay_s``).
"""

from __future__ import annotations

import base64
import heapq
import json
import secrets
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from localcloud.sandbox.callback_http import post_callback
from localcloud.sandbox.wechatpay_gateway import CST, MerchantGateway, cst_now, nonce

#: WeChat's retry schedule for notifications that were not answered 2xx
RETRY_SCHEDULE_S = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
CALLBACK_POINT = "wechatpay.callback"
WORKER_NAME = "wechatpay-callbacks"


@dataclass(frozen=True)
class Notice:
    """What one notification says: ``refs`` (out_bill_no / out_trade_no / out_refund_no) are for inspection."""

    event_type: str
    summary: str
    original_type: str  # also the AES-GCM associated data, as WeChat does
    resource: Mapping[str, Any]
    state: str
    refs: Mapping[str, str]


@dataclass
class _Delivery:
    seq: int
    notification_id: str
    notice: Notice
    url: str
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    def describe(self) -> dict[str, Any]:
        return {"id": self.notification_id, **self.notice.refs, "event_type": self.notice.event_type,
                "state": self.notice.state, "url": self.url, "delivered": self.delivered, "gave_up": self.gave_up,
                "attempts": [dict(a) for a in self.attempts]}


#: how many callbacks are in flight at once
CONCURRENT_DELIVERIES = 4


class CallbackSender:
    """Encrypts, signs and delivers notifications on WeChat's retry schedule. Thread-safe."""

    def __init__(self, gateway: MerchantGateway, apiv3_key: str, retry_scale: float, timeout_s: float) -> None:
        self._gateway = gateway
        self._aead = AESGCM(apiv3_key.encode())
        self.retry_scale, self.timeout_s = retry_scale, timeout_s
        self._lock = threading.Condition()
        self._deliveries: dict[int, _Delivery] = {}
        self._due: list[tuple[float, int]] = []  # (monotonic due time, delivery seq): a heap
        self._worker: threading.Thread | None = None
        self._seq = 0
        #: WeChat sends notifications concurrently, not one merchant callback at a time
        self._pool = ThreadPoolExecutor(CONCURRENT_DELIVERIES, thread_name_prefix=WORKER_NAME)

    def send(self, notice: Notice, url: str) -> str:
        """Queue ``notice`` for ``url``; its notification id."""
        once = nonce(12)
        plain = json.dumps(dict(notice.resource), ensure_ascii=False).encode()
        ciphertext = self._aead.encrypt(once.encode(), plain, notice.original_type.encode())
        notification_id = f"EV-{datetime.now(CST):%Y%m%d%H%M%S}{secrets.randbelow(10**8):08d}"
        payload = {
            "id": notification_id, "create_time": cst_now(), "resource_type": "encrypt-resource",
            "event_type": notice.event_type, "summary": notice.summary,
            "resource": {"original_type": notice.original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(),
                         "associated_data": notice.original_type, "nonce": once},
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        fault = self._gateway.server.faults.take(CALLBACK_POINT)
        copies = 2 if fault is not None and fault.mode == "duplicate" else 1
        delay = fault.delay_s if fault is not None and fault.mode == "delay" else 0.0
        with self._lock:
            for _ in range(copies):
                self._seq += 1
                self._deliveries[self._seq] = _Delivery(self._seq, notification_id, notice, url, body)
                self._schedule(time.monotonic() + delay, self._seq)
        return notification_id

    def _schedule(self, due: float, seq: int) -> None:
        """Queue an attempt (the caller holds the lock) and make sure a worker is there to make it."""
        heapq.heappush(self._due, (due, seq))
        self._lock.notify_all()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._deliver_due, name=WORKER_NAME, daemon=True)
            self._worker.start()

    def deliveries(self, **refs: str | None) -> list[dict[str, Any]]:
        """Every delivery, oldest first; ``refs`` given (not None) must match."""
        wanted = {k: v for k, v in refs.items() if v is not None}
        with self._lock:
            return [d.describe() for d in self._deliveries.values()
                    if all(d.notice.refs.get(k) == v for k, v in wanted.items())]

    def counts(self) -> dict[str, int]:
        with self._lock:
            deliveries = list(self._deliveries.values())
        return {"delivered": sum(d.delivered for d in deliveries), "gave_up": sum(d.gave_up for d in deliveries),
                "pending": sum(not (d.delivered or d.gave_up) for d in deliveries)}

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._due.clear()
            self._lock.notify_all()

    # --------------------------------------------------------------------------------- delivery
    def _deliver_due(self) -> None:
        """Deliver callbacks as they fall due; ends when none are left or the server stops."""
        stopping = self._gateway.server.faults.stopping
        while True:
            with self._lock:
                if stopping.is_set() or not self._due:
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
                self._pool.submit(self._attempt, delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0",
                   **self._gateway.signature_headers(delivery.body)}
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
                self._schedule(time.monotonic() + wait, delivery.seq)
