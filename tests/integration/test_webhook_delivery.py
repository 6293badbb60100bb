"""Partner webhooks end to end: the hub over moto, the real sender, and a partner receiver on loopback
that verifies every delivery with the ``standardwebhooks`` library.

Time is one controllable wall clock for everyone (time-machine): the hub's clock, the SQS delays in
moto and the receiver's signature-timestamp check all move together when a test jumps forward.
Queue messages reach the sender through localcloud's SQS pump, exactly as on the local stack.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import time_machine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app import app
from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.adapters.dynamo.webhook_models import AttemptItem, attempt_sk, delivery_key
from chalicelib.domain.errors import BadInput, Conflict
from chalicelib.domain.webhooks import RETRY_SCHEDULE_S, DeliveryStatus, EndpointStatus
from chalicelib.services import webhook_delivery, webhooks
from chalicelib.services.deps import Deps
from localcloud.lambda_runtime import FunctionInvoker
from localcloud.resources import LocalResources
from localcloud.scheduler import scheduled_event
from localcloud.sqs_pump import SqsPump
from tests.conftest import REGION

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PARTNER, COMMUNITY = "ptn_clean", "cmt_1"
ORDER = {"order_id": "ord_1", "service_id": "cleaning-1h", "community_id": COMMUNITY, "building": "3",
         "room": "301", "note": "", "amount_fen": 8000}


# ---------------------------------------------------------------------------------- the partner
@dataclasses.dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    #: each secret the receiver holds → whether the delivery verified with it
    verified: dict[str, bool]


class Receiver:
    """A partner's webhook endpoint: verifies, records, and answers what the test scripted."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.script: list[tuple[int, dict[str, str], bytes]] = []  # answers to give first, in order
        self.requests: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = {}
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified[secret] = True
                    except WebhookVerificationError:
                        verified[secret] = False
                receiver.requests.append(Received(headers, body, verified))
                status, extra, answer = receiver.script.pop(0) if receiver.script else (200, {}, b"thanks")
                if not any(verified.values()):
                    status, extra, answer = 400, {}, b"bad signature"
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: nothing listens on the port any more (connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/linli"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]


# ---------------------------------------------------------------------------------- the hub
class Hub:
    def __init__(self, deps: Deps, resources: LocalResources, clock: time_machine.Traveller) -> None:
        self.deps = deps
        self.clock = clock
        queue = resources.queue_named("linli-webhook-deliveries")
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = queue.url
        self.pump = SqsPump(self.sqs, queue.url, queue.arn, REGION,
                            FunctionInvoker("deliver_webhooks", app.handler_map["deliver_webhooks"]), 10)
        self.dispatcher = app.handler_map["dispatch_due_webhooks"]

    def now_ms(self) -> int:
        return self.deps.clock.now_ms()

    def later(self, seconds: float) -> None:
        self.clock.shift(seconds)

    def run(self) -> int:
        """Everything the event sources would do now: the sender on visible messages, the dispatcher once."""
        handled = self._drain()
        queued = int(self.dispatcher(scheduled_event("dispatch_due_webhooks", REGION), None)["queued"])
        return handled + self._drain() + queued

    def _drain(self) -> int:
        handled = 0
        while count := self.pump.poll_once():
            handled += count
        return handled

    def enqueue(self, message_id: str, event_type: str = "order.offered") -> Any:
        return webhooks.enqueue(self.deps, PARTNER, COMMUNITY, event_type, ORDER, message_id)

    def delivery(self, message_id: str) -> Any:
        assert self.deps.webhooks is not None
        return self.deps.webhooks.store.get_delivery(message_id)

    def endpoint(self) -> Any:
        return webhooks.get_endpoint(self.deps, PARTNER)

    def outbox(self, event_type: str) -> list[OutboxItem]:
        return [item for item in OutboxItem.scan() if item.event_type == event_type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    partner = Receiver()
    yield partner
    partner.stop()


@pytest.fixture
def hub_at(hub: Deps, moto: LocalResources, receiver: Receiver) -> Iterator[Hub]:
    """The hub with the partner registered at ``receiver.url``; jitter pinned to the schedule's middle."""
    with time_machine.travel(START, tick=False) as clock:
        assert hub.webhooks is not None
        hub.webhooks.rand = lambda: 0.5
        receiver.secrets = [webhooks.register_endpoint(hub, PARTNER, COMMUNITY, receiver.url)]
        yield Hub(hub, moto, clock)


# ---------------------------------------------------------------------------------- tests
def test_a_delivery_arrives_signed_once_and_is_logged(hub_at: Hub, receiver: Receiver) -> None:
    created = hub_at.enqueue("msg_first")
    assert created is not None and created.status is DeliveryStatus.PENDING
    assert hub_at.enqueue("msg_first") is None  # a redelivered stream record enqueues nothing twice
    assert hub_at.run() == 1

    (got,) = receiver.requests
    assert all(got.verified.values())
    assert got.headers["webhook-id"] == "msg_first"
    assert got.headers["webhook-timestamp"] == str(int(START.timestamp()))
    body = json.loads(got.body)
    assert body == {"type": "order.offered", "timestamp": "2026-03-01T08:00:00.000Z", "data": ORDER}
    assert hub_at.delivery("msg_first").status is DeliveryStatus.DELIVERED

    page = webhooks.list_deliveries(hub_at.deps, PARTNER, 10)
    (report,) = page.items
    assert report.delivery.message_id == "msg_first" and page.next_cursor is None
    (attempt,) = report.attempts
    assert (attempt.number, attempt.status, attempt.response_head, attempt.error) == (1, 200, "thanks", None)
    assert attempt.latency_ms >= 0
    view = webhooks.deliveries_page(hub_at.deps, PARTNER)
    assert view["next_cursor"] is None
    assert view["items"][0] | {"attempts": None} == {
        "message_id": "msg_first", "event_type": "order.offered", "status": "delivered",
        "created_at": "2026-03-01T08:00:00.000Z", "next_attempt_at": None, "payload": body, "attempts": None}
    assert webhooks.endpoint_health(hub_at.deps, PARTNER) == {
        "url": receiver.url, "status": "active", "disabled_reason": None, "failing_since": None}
    hub_at.later(3600)
    assert hub_at.run() == 0 and len(receiver.requests) == 1


def test_a_receiver_down_for_three_attempts_gets_the_message_on_the_fourth(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(503, {}, b"maintenance")] * 3
    hub_at.enqueue("msg_down")
    hub_at.run()
    for wait in RETRY_SCHEDULE_S[:3]:
        hub_at.later(wait - 1)
        assert hub_at.run() == 0  # not yet: SQS delay or the due index holds it
        hub_at.later(1)
        assert hub_at.run() >= 1
    assert receiver.ids() == ["msg_down"] * 4
    assert all(all(r.verified.values()) for r in receiver.requests)
    assert hub_at.delivery("msg_down").status is DeliveryStatus.DELIVERED
    attempts = webhooks.list_deliveries(hub_at.deps, PARTNER).items[0].attempts
    assert [a.status for a in attempts] == [503, 503, 503, 200]
    assert hub_at.endpoint().failing_since_ms is None  # the success ended the failure run


def test_a_receiver_that_stays_down_gets_eight_attempts_then_replay_resends(hub_at: Hub, receiver: Receiver) -> None:
    receiver.stop()
    created = hub_at.now_ms()
    hub_at.enqueue("msg_lost")
    hub_at.run()
    for wait in RETRY_SCHEDULE_S:
        hub_at.later(wait)
        hub_at.run()
    hub_at.later(2 * 24 * 3600)
    hub_at.run()
    delivery = hub_at.delivery("msg_lost")
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 8)
    attempts = webhooks.list_deliveries(hub_at.deps, PARTNER).items[0].attempts
    assert [a.error for a in attempts] == ["connect_failed"] * 8
    assert [a.status for a in attempts] == [None] * 8

    receiver.start()  # back, on the same URL
    assert webhooks.replay_since(hub_at.deps, PARTNER, created) == 1
    hub_at.run()
    assert receiver.ids() == ["msg_lost"]
    assert all(receiver.requests[0].verified.values())
    assert hub_at.delivery("msg_lost").status is DeliveryStatus.DELIVERED
    assert len(webhooks.list_deliveries(hub_at.deps, PARTNER).items[0].attempts) == 9
    assert webhooks.replay_since(hub_at.deps, PARTNER, created) == 0  # nothing left undelivered


def test_410_disables_the_endpoint_and_alerts_staff(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(410, {}, b"gone")]
    hub_at.enqueue("msg_gone")
    hub_at.run()
    assert hub_at.delivery("msg_gone").status is DeliveryStatus.ENDPOINT_DISABLED
    endpoint = hub_at.endpoint()
    assert (endpoint.status, endpoint.disabled_reason) == (EndpointStatus.DISABLED, "gone")
    (alert,) = hub_at.outbox("partner.endpoint_disabled")
    assert alert.community_id == COMMUNITY
    assert alert.data["partner_id"] == PARTNER and alert.data["reason"] == "gone"

    later = hub_at.enqueue("msg_after")
    assert later is not None and later.status is DeliveryStatus.ENDPOINT_DISABLED
    hub_at.later(3600)
    hub_at.run()
    assert receiver.ids() == ["msg_gone"]
    with pytest.raises(Conflict):
        webhooks.replay_since(hub_at.deps, PARTNER, 0)

    webhooks.enable_endpoint(hub_at.deps, PARTNER)  # staff turn it back on; the partner replays
    assert webhooks.replay_since(hub_at.deps, PARTNER, 0) == 2
    hub_at.run()
    assert sorted(receiver.ids()) == ["msg_after", "msg_gone", "msg_gone"]


def test_429_with_retry_after_waits_that_long(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "120"}, b"slow down")]
    hub_at.enqueue("msg_busy")
    hub_at.run()
    assert hub_at.delivery("msg_busy").next_attempt_at_ms == hub_at.now_ms() + 120_000
    hub_at.later(RETRY_SCHEDULE_S[0])
    hub_at.run()
    hub_at.later(119 - RETRY_SCHEDULE_S[0])
    hub_at.run()
    assert len(receiver.requests) == 1
    hub_at.later(1)
    hub_at.run()
    assert receiver.ids() == ["msg_busy", "msg_busy"]
    assert hub_at.delivery("msg_busy").status is DeliveryStatus.DELIVERED


def test_a_far_retry_waits_in_the_due_index_until_it_is_due(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(504, {"Retry-After": "7200"}, b"")]
    hub_at.enqueue("msg_far")
    hub_at.run()
    delivery = hub_at.delivery("msg_far")
    assert delivery.wake_at_ms == delivery.next_attempt_at_ms == hub_at.now_ms() + 7_200_000
    hub_at.later(7199)
    assert webhook_delivery.dispatch_due(hub_at.deps) == 0
    hub_at.later(1)
    assert webhook_delivery.dispatch_due(hub_at.deps) == 1
    assert webhook_delivery.dispatch_due(hub_at.deps) == 0  # leased: not queued twice
    hub_at.run()
    assert receiver.ids() == ["msg_far", "msg_far"]
    assert hub_at.delivery("msg_far").status is DeliveryStatus.DELIVERED


def test_a_lost_queue_message_is_sent_again_by_the_backstop(hub_at: Hub, receiver: Receiver) -> None:
    hub_at.enqueue("msg_dropped")
    hub_at.sqs.purge_queue(QueueUrl=hub_at.queue_url)  # the first attempt's message never arrives
    hub_at.later(15 * 60)
    hub_at.run()
    assert receiver.ids() == ["msg_dropped"]
    assert hub_at.delivery("msg_dropped").status is DeliveryStatus.DELIVERED


def test_five_days_of_failure_disable_the_endpoint_with_a_staff_alert(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(500, {}, b"oops")] * 100
    first_failure = hub_at.now_ms()
    hub_at.enqueue("msg_a")
    hub_at.run()
    for wait in RETRY_SCHEDULE_S:
        hub_at.later(wait)
        hub_at.run()
    assert hub_at.delivery("msg_a").status is DeliveryStatus.FAILED
    assert hub_at.endpoint().failing_since_ms == first_failure
    assert hub_at.endpoint().status is EndpointStatus.ACTIVE

    hub_at.later((first_failure + 5 * 24 * 3600 * 1000 - hub_at.now_ms()) / 1000 - 60)
    hub_at.enqueue("msg_b")
    hub_at.run()
    hub_at.later(RETRY_SCHEDULE_S[0])
    hub_at.run()
    assert hub_at.endpoint().status is EndpointStatus.ACTIVE  # 4 days 23:59 of failure
    hub_at.later(RETRY_SCHEDULE_S[1])
    hub_at.run()
    endpoint = hub_at.endpoint()
    assert (endpoint.status, endpoint.disabled_reason) == (EndpointStatus.DISABLED, "failing")
    assert hub_at.delivery("msg_b").status is DeliveryStatus.ENDPOINT_DISABLED
    (alert,) = hub_at.outbox("partner.endpoint_disabled")
    assert alert.data == {"partner_id": PARTNER, "community_id": COMMUNITY, "reason": "failing",
                          "url": receiver.url, "disabled_at_ms": hub_at.now_ms()}
    sent = len(receiver.requests)
    hub_at.enqueue("msg_c")
    hub_at.later(3600)
    hub_at.run()
    assert len(receiver.requests) == sent == 8 + 3


def test_after_rotation_deliveries_carry_both_signatures_for_a_day(hub_at: Hub, receiver: Receiver) -> None:
    old = receiver.secrets[0]
    new = webhooks.rotate_secret(hub_at.deps, PARTNER)
    assert new.startswith("whsec_") and new != old
    receiver.secrets = [old, new]
    hub_at.enqueue("msg_overlap")
    hub_at.run()
    overlap = receiver.requests[-1]
    assert overlap.verified == {old: True, new: True}
    assert len(overlap.headers["webhook-signature"].split(" ")) == 2

    hub_at.later(24 * 3600)
    hub_at.enqueue("msg_after_overlap")
    hub_at.run()
    assert receiver.requests[-1].verified == {old: False, new: True}


def test_the_attempt_log_keeps_status_latency_and_the_first_kilobyte(hub_at: Hub, receiver: Receiver) -> None:
    receiver.script = [(500, {}, b"x" * 5000)]
    hub_at.enqueue("msg_log")
    hub_at.run()
    (report,) = webhooks.list_deliveries(hub_at.deps, PARTNER).items
    (attempt,) = report.attempts
    assert (attempt.status, attempt.response_head, attempt.error) == (500, "x" * 1024, None)
    assert isinstance(attempt.latency_ms, int) and attempt.latency_ms >= 0
    pk, _ = delivery_key("msg_log")
    stored = AttemptItem.get(pk, attempt_sk(1))
    assert stored.expires_at == hub_at.now_ms() // 1000 + 30 * 24 * 3600


def test_deliveries_are_listed_newest_first_page_by_page(hub_at: Hub) -> None:
    for n in range(3):
        hub_at.enqueue(f"msg_{n}")
        hub_at.later(1)
    first = webhooks.list_deliveries(hub_at.deps, PARTNER, 2)
    assert [r.delivery.message_id for r in first.items] == ["msg_2", "msg_1"]
    second = webhooks.list_deliveries(hub_at.deps, PARTNER, 2, first.next_cursor)
    assert [r.delivery.message_id for r in second.items] == ["msg_0"]
    with pytest.raises(BadInput):
        webhooks.list_deliveries(hub_at.deps, "ptn_other", 2, first.next_cursor)


def test_a_malformed_queue_message_fails_alone(hub_at: Hub, receiver: Receiver) -> None:
    hub_at.sqs.send_message(QueueUrl=hub_at.queue_url, MessageBody="not json")
    hub_at.enqueue("msg_ok")
    hub_at.pump.poll_once()
    assert receiver.ids() == ["msg_ok"]
    assert hub_at.pump.failed_records == 1


def test_unsafe_urls_are_refused_at_registration(hub: Deps) -> None:
    for url in ("http://10.0.0.8/hook", "http://169.254.169.254/latest", "ftp://partner.example/x"):
        with pytest.raises(BadInput):
            webhooks.register_endpoint(hub, "ptn_bad", COMMUNITY, url)
    assert webhooks.get_endpoint(hub, "ptn_bad") is None
