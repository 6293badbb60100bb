"""Partner companies: a loopback webhook receiver each, verifying every delivery with ``standardwebhooks``
as a partner's own code would, then doing the work — accept a few minutes later, start when the worker
arrives, complete when done — through the partner API, at simulated pace."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from localcloud.simulator import habits
from localcloud.simulator.agenda import Agenda
from localcloud.simulator.clock import MINUTE_MS
from localcloud.simulator.hub_client import HubClient
from localcloud.simulator.tally import Tally

log = logging.getLogger("localcloud.simulator")


class PartnerDesk:
    """One partner company's webhook endpoint and dispatcher."""

    def __init__(self, name: str, hub: HubClient, agenda: Agenda, tally: Tally, seed: int) -> None:
        self.name = name
        self.hub, self.agenda, self.tally = hub, agenda, tally
        self.secret = ""
        self.api_key = ""
        self.rng = random.Random(f"linli-partner:{seed}:{name}")
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"partner-{name}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/linli/webhooks"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = desk.receive(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        return Handler

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        arrived = time.time()
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except Exception:
            with self.tally.lock:
                self.tally.webhook_refused += 1
            return 400
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            repeat = webhook_id in self._seen
            self._seen.add(webhook_id)
        event_type = str(payload.get("type"))
        happened = datetime.fromisoformat(str(payload.get("timestamp"))).timestamp()
        with self.tally.lock:
            if repeat:
                self.tally.webhook_repeats += 1
            else:
                self.tally.webhook_types[event_type] += 1
                self.tally.webhook_latency_ms.append(max(0.0, (arrived - happened) * 1000))
        if event_type == "order.offered" and not repeat:
            self._take(dict(payload.get("data") or {}))
        return 200

    def _take(self, data: dict[str, Any]) -> None:
        order_id = str(data.get("order_id"))
        with self.tally.lock:
            track = self.tally.orders.get(order_id)
            if track is not None:
                track.offered += 1
        work_min = habits.SERVICES.get(str(data.get("service_id")), ("", 0, 0, 0, 30))[4]
        eta_min = self.rng.randint(10, 40)
        accept_in = self.rng.randint(1, 6) * MINUTE_MS
        self.agenda.after(accept_in, lambda: self._event(order_id, {"type": "accept", "eta_minutes": eta_min}))
        self.agenda.after(accept_in + eta_min * MINUTE_MS, lambda: self._event(order_id, {"type": "start"}))
        self.agenda.after(accept_in + (eta_min + work_min) * MINUTE_MS,
                          lambda: self._event(order_id, {"type": "complete"}))

    def _event(self, order_id: str, event: dict[str, Any]) -> None:
        self.hub.call("POST", f"/v1/partner/orders/{order_id}/events", event, token=self.api_key)
        with self.tally.lock:
            track = self.tally.orders.get(order_id)
            if track is not None:
                kind = event["type"]
                track.accepted |= kind == "accept"
                track.started |= kind == "start"
                track.completed |= kind == "complete"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

