"""The stripe-library adapter against a running Stripe sandbox: PaymentIntents, webhooks, refunds, transfers,
lost answers and idempotency keys."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.stripe_pay import StripeCardPayments
from chalicelib.domain.errors import CallbackRejected, PaymentRefused, UpstreamUnavailable
from chalicelib.ports import CardPayments, ChargeState, RefundState, StripeEvent
from localcloud.sandbox import Fault, SandboxServer
from localcloud.sandbox.stripe import StripeSandbox
from localcloud.sandbox.stripe_events import signature_header

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_linli_sandbox_key_0001"
WEBHOOK_SECRET = "whsec_linli_sandbox_secret_0001"
PARTNER_ACCOUNT = "acct_1PartnerCleaning"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def eventually(check: Callable[[], object], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class Receiver:
    """The hub's /callbacks/stripe stand-in: records each POST, answers the next of ``statuses`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callbacks/stripe"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def events(self, event_type: str | None = None) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for h, b in self.received if event_type is None or json.loads(b)["type"] == event_type]

    def wait_for(self, event_type: str, n: int = 1, timeout_s: float = 5) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(found := self.events(event_type)) >= n:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {n} {event_type} webhooks, got {len(self.events(event_type))}")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, StripeSandbox, Receiver]]:
    receiver = Receiver()
    stripe_sandbox = StripeSandbox(API_KEY, WEBHOOK_SECRET, retry_scale=0.0005, webhook_url=receiver.url)
    with SandboxServer(modules=[stripe_sandbox]) as server:
        yield server, stripe_sandbox, receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture
def stripe_box(sandbox: tuple[SandboxServer, StripeSandbox, Receiver]) -> Iterator[StripeSandbox]:
    server, stripe_sandbox, receiver = sandbox
    yield stripe_sandbox
    server.faults.clear()
    with receiver.lock:
        receiver.statuses.clear()
    # let deliveries in flight land before forgetting them, so none reaches the next test
    eventually(lambda: all(d["delivered"] or d["gave_up"] for d in stripe_sandbox.objects("deliveries")))
    stripe_sandbox.reset()
    stripe_sandbox.refund_status = "succeeded"
    with receiver.lock:
        receiver.received.clear()


@pytest.fixture
def server(sandbox: tuple[SandboxServer, StripeSandbox, Receiver], stripe_box: StripeSandbox) -> SandboxServer:
    return sandbox[0]


@pytest.fixture
def receiver(sandbox: tuple[SandboxServer, StripeSandbox, Receiver], stripe_box: StripeSandbox) -> Receiver:
    return sandbox[2]


def adapter(server: SandboxServer, api_key: str = API_KEY, secret: str = WEBHOOK_SECRET, **kwargs: Any
            ) -> StripeCardPayments:
    kwargs.setdefault("max_network_retries", 0)
    return StripeCardPayments(api_key, secret, server.base_url, timeout_s=kwargs.pop("timeout_s", 2), **kwargs)


def http(server: SandboxServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    url = server.base_url.rstrip("/") + path  # loopback http only
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with _NO_PROXY.open(request, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def paid_intent(server: SandboxServer, stripe: StripeCardPayments, out_trade_no: str, amount_fen: int) -> str:
    charge = stripe.create_payment_intent(out_trade_no, amount_fen, "cny", "一小时家政保洁")
    assert charge.provider_ref is not None
    assert http(server, "POST", f"/_sandbox/stripe/payment_intents/{charge.provider_ref}/succeed")[0] == 200
    return charge.provider_ref


def arm(server: SandboxServer, point: str, mode: str, **extra: Any) -> None:
    server.faults.arm({point: Fault(mode, **extra)})


def test_implements_the_port(server: SandboxServer) -> None:
    port: CardPayments = adapter(server)
    assert port.create_payment_intent("o-port", 100, "cny", "x").state is ChargeState.PENDING


def test_import_does_not_load_stripe_or_requests() -> None:
    code = ("import sys, chalicelib.adapters.stripe_pay; "
            "loaded = [m for m in ('stripe', 'requests') if m in sys.modules]; assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO_ROOT)


def test_missing_credentials_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="webhook"):
        StripeCardPayments(API_KEY, "", "http://127.0.0.1:1")


# ------------------------------------------------------------------------------- payments and webhooks


def test_card_payment_round_trip(server: SandboxServer, stripe_box: StripeSandbox, receiver: Receiver) -> None:
    stripe = adapter(server)
    created = stripe.create_payment_intent("o-1001", 3900, "CNY", "一小时家政保洁")
    assert (created.provider, created.out_trade_no, created.amount_fen) == ("stripe", "o-1001", 3900)
    assert created.state is ChargeState.PENDING
    assert created.provider_ref is not None and created.provider_ref.startswith("pi_")
    assert created.client_params["payment_intent"] == created.provider_ref
    assert created.client_params["client_secret"].startswith(created.provider_ref + "_secret_")
    # what the hub asked Stripe for: a card PaymentIntent in fen of CNY, tagged with our order number
    (stored,) = stripe_box.objects("payment_intents")
    assert (stored["amount"], stored["currency"], stored["payment_method_types"]) == (3900, "cny", ["card"])
    assert stored["metadata"] == {"out_trade_no": "o-1001"}
    assert stripe.retrieve_payment_intent(created.provider_ref).state is ChargeState.PENDING

    status, _ = http(server, "POST", f"/_sandbox/stripe/payment_intents/{created.provider_ref}/succeed")
    assert status == 200
    ((headers, body),) = receiver.wait_for("payment_intent.succeeded")
    assert headers["content-type"].startswith("application/json")
    event = stripe.verify_webhook(body, headers["stripe-signature"])
    assert isinstance(event, StripeEvent)
    assert event.type == "payment_intent.succeeded" and event.event_id.startswith("evt_")
    assert event.object["id"] == created.provider_ref
    assert event.object["metadata"]["out_trade_no"] == "o-1001"
    assert event.object["status"] == "succeeded"

    paid = stripe.retrieve_payment_intent(created.provider_ref)
    assert (paid.state, paid.out_trade_no, paid.amount_fen) == (ChargeState.SUCCEEDED, "o-1001", 3900)


def test_a_declined_card_leaves_the_payment_pending(server: SandboxServer, receiver: Receiver) -> None:
    stripe = adapter(server)
    created = stripe.create_payment_intent("o-1002", 500, "cny", "送水")
    assert http(server, "POST", f"/_sandbox/stripe/payment_intents/{created.provider_ref}/fail")[0] == 200
    ((headers, body),) = receiver.wait_for("payment_intent.payment_failed")
    event = stripe.verify_webhook(body, headers["stripe-signature"])
    assert event.object["last_payment_error"]["code"] == "card_declined"
    assert stripe.retrieve_payment_intent(str(created.provider_ref)).state is ChargeState.PENDING
    # paying twice is not possible once it succeeded
    assert http(server, "POST", f"/_sandbox/stripe/payment_intents/{created.provider_ref}/succeed")[0] == 200
    assert http(server, "POST", f"/_sandbox/stripe/payment_intents/{created.provider_ref}/succeed")[0] == 409


@pytest.fixture
def delivered(server: SandboxServer, receiver: Receiver) -> tuple[dict[str, str], bytes]:
    paid_intent(server, adapter(server), "o-hook", 1200)
    return receiver.wait_for("payment_intent.succeeded")[0]


def test_tampered_body_is_rejected(server: SandboxServer, delivered: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivered
    tampered = body.replace(b'"amount": 1200', b'"amount": 1')
    assert tampered != body
    with pytest.raises(CallbackRejected):
        adapter(server).verify_webhook(tampered, headers["stripe-signature"])


def test_another_secret_is_rejected(server: SandboxServer, delivered: tuple[dict[str, str], bytes]) -> None:
    headers, body = delivered
    with pytest.raises(CallbackRejected):
        adapter(server, secret="whsec_someone_else").verify_webhook(body, headers["stripe-signature"])


@pytest.mark.parametrize(("offset_s", "accepted"), [(-301, False), (-250, True), (250, True), (400, False)])
def test_timestamp_window(server: SandboxServer, delivered: tuple[dict[str, str], bytes], offset_s: int,
                          accepted: bool) -> None:
    _, body = delivered
    header = signature_header(WEBHOOK_SECRET, body, int(time.time()) + offset_s)
    stripe = adapter(server)
    if accepted:
        assert stripe.verify_webhook(body, header).type == "payment_intent.succeeded"
    else:
        with pytest.raises(CallbackRejected):
            stripe.verify_webhook(body, header)


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=deadbeef", "t=1,v0=x"])
def test_missing_or_malformed_signature_is_rejected(server: SandboxServer, delivered: tuple[dict[str, str], bytes],
                                                    header: str | None) -> None:
    with pytest.raises(CallbackRejected):
        adapter(server).verify_webhook(delivered[1], header)


def test_signed_garbage_is_rejected(server: SandboxServer) -> None:
    for body in (b"not json", b"\xff\xfe", b'{"object": "event"}'):
        with pytest.raises(CallbackRejected):
            adapter(server).verify_webhook(body, signature_header(WEBHOOK_SECRET, body, int(time.time())))


def test_webhooks_are_retried_with_the_same_event_id(server: SandboxServer, stripe_box: StripeSandbox,
                                                     receiver: Receiver) -> None:
    receiver.statuses.extend([500, 503])
    stripe = adapter(server)
    paid_intent(server, stripe, "o-retry", 800)
    attempts = receiver.wait_for("payment_intent.succeeded", n=3)
    assert len({json.loads(body)["id"] for _, body in attempts}) == 1
    for headers, body in attempts:  # each attempt verifies on its own
        assert stripe.verify_webhook(body, headers["stripe-signature"]).type == "payment_intent.succeeded"
    eventually(lambda: stripe_box.objects("deliveries", delivered=True))  # the sandbox saw the 200 too
    (delivery,) = stripe_box.objects("deliveries", type="payment_intent.succeeded")
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]


# ------------------------------------------------------------------------------------------ refunds


def test_refund_part_then_the_rest(server: SandboxServer, stripe_box: StripeSandbox, receiver: Receiver) -> None:
    stripe = adapter(server)
    intent_id = paid_intent(server, stripe, "o-2001", 5000)
    refund = stripe.refund("rf-2001a", intent_id, 2000)
    assert (refund.out_refund_no, refund.out_trade_no, refund.amount_fen) == ("rf-2001a", "o-2001", 2000)
    assert refund.state is RefundState.SUCCEEDED and str(refund.provider_ref).startswith("re_")
    assert stripe.retrieve_payment_intent(intent_id).state is ChargeState.REFUNDED
    ((headers, body),) = receiver.wait_for("refund.created")
    event = stripe.verify_webhook(body, headers["stripe-signature"])
    assert event.object["metadata"] == {"out_refund_no": "rf-2001a"} and event.object["status"] == "succeeded"
    receiver.wait_for("charge.refunded")

    with pytest.raises(PaymentRefused, match="amount_too_large"):
        stripe.refund("rf-2001b", intent_id, 3001)
    assert stripe.refund("rf-2001b", intent_id, 3000).amount_fen == 3000
    (charge,) = stripe_box.objects("charges")
    assert (charge["amount_refunded"], charge["refunded"]) == (5000, True)
    with pytest.raises(PaymentRefused, match="charge_already_refunded"):
        stripe.refund("rf-2001c", intent_id, 1)


def test_refund_retried_with_the_same_number_refunds_once(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    stripe = adapter(server)
    intent_id = paid_intent(server, stripe, "o-2002", 900)
    first = stripe.refund("rf-2002", intent_id, 900)
    assert stripe.refund("rf-2002", intent_id, 900) == first
    assert len(stripe_box.objects("refunds")) == 1


def test_refund_of_an_unpaid_order_is_refused(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    stripe = adapter(server)
    created = stripe.create_payment_intent("o-2003", 900, "cny", "x")
    with pytest.raises(PaymentRefused, match="charge_not_refundable"):
        stripe.refund("rf-2003", str(created.provider_ref), 900)
    assert stripe_box.objects("refunds") == []


def test_a_pending_refund_that_fails_is_told_by_webhook(server: SandboxServer, stripe_box: StripeSandbox,
                                                        receiver: Receiver) -> None:
    stripe_box.refund_status = "pending"
    stripe = adapter(server)
    intent_id = paid_intent(server, stripe, "o-2004", 700)
    refund = stripe.refund("rf-2004", intent_id, 700)
    assert refund.state is RefundState.PENDING
    assert http(server, "POST", f"/_sandbox/stripe/refunds/{refund.provider_ref}/fail")[0] == 200
    ((headers, body),) = receiver.wait_for("refund.updated")
    event = stripe.verify_webhook(body, headers["stripe-signature"])
    assert (event.object["id"], event.object["status"]) == (refund.provider_ref, "failed")
    assert stripe.retrieve_payment_intent(intent_id).state is ChargeState.SUCCEEDED  # nothing refunded after all


# ---------------------------------------------------------------------------------------- transfers


def test_transfer_with_the_same_settlement_id_moves_money_once(server: SandboxServer,
                                                               stripe_box: StripeSandbox) -> None:
    stripe = adapter(server)
    first = stripe.transfer("st-3001", PARTNER_ACCOUNT, 3120, "cny")
    assert first.startswith("tr_")
    assert stripe.transfer("st-3001", PARTNER_ACCOUNT, 3120, "cny") == first
    (transfer,) = stripe_box.objects("transfers")
    assert (transfer["destination"], transfer["amount"], transfer["currency"]) == (PARTNER_ACCOUNT, 3120, "cny")
    assert transfer["metadata"] == {"settlement_id": "st-3001"}
    assert [a["id"] for a in stripe_box.objects("accounts")] == [PARTNER_ACCOUNT]
    assert stripe.transfer("st-3002", PARTNER_ACCOUNT, 100, "cny") != first
    assert http(server, "GET", f"/_sandbox/stripe/transfers/{first}")[1]["amount"] == 3120


def test_settlement_id_reused_for_another_amount_is_refused(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    stripe = adapter(server)
    stripe.transfer("st-3003", PARTNER_ACCOUNT, 100, "cny")
    with pytest.raises(PaymentRefused, match="idempotency"):
        stripe.transfer("st-3003", PARTNER_ACCOUNT, 200, "cny")
    assert len(stripe_box.objects("transfers")) == 1


def test_a_destination_that_is_no_connected_account_is_refused(server: SandboxServer) -> None:
    with pytest.raises(PaymentRefused, match="not sent"):
        adapter(server).transfer("st-3004", "partner-7", 100, "cny")
    form = b"amount=100&currency=cny&destination=partner-7"
    status, answer = http(server, "POST", "/v1/transfers", form, {"Authorization": f"Bearer {API_KEY}"})
    assert status == 400 and answer["error"]["code"] == "resource_missing"


# ------------------------------------------------------------------------ lost answers and refusals


def test_a_lost_create_is_unavailable_and_the_retry_finds_the_same_intent(
        server: SandboxServer, stripe_box: StripeSandbox) -> None:
    stripe = adapter(server, timeout_s=1)
    arm(server, "stripe.create", "timeout", delay_s=3)
    with pytest.raises(UpstreamUnavailable):
        stripe.create_payment_intent("o-4001", 2500, "cny", "x")
    (stored,) = stripe_box.objects("payment_intents")  # Stripe made it; only the answer was lost
    again = stripe.create_payment_intent("o-4001", 2500, "cny", "x")
    assert again.provider_ref == stored["id"]
    assert len(stripe_box.objects("payment_intents")) == 1


def test_the_library_retries_a_5xx_with_the_same_key(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    arm(server, "stripe.create", "error", status=503)
    charge = adapter(server, max_network_retries=1).create_payment_intent("o-4002", 100, "cny", "x")
    assert [i["id"] for i in stripe_box.objects("payment_intents")] == [charge.provider_ref]


@pytest.mark.parametrize(("point", "mode", "status"), [("stripe.create", "error", 500),
                                                        ("stripe.create", "error", 429),
                                                        ("stripe.create", "http_error", 502),
                                                        ("stripe.retrieve", "http_error", 504)])
def test_5xx_429_and_gateway_errors_are_unavailable(server: SandboxServer, point: str, mode: str,
                                                    status: int) -> None:
    stripe = adapter(server)
    intent_id = str(stripe.create_payment_intent("o-4003", 100, "cny", "x").provider_ref)
    arm(server, point, mode, status=status)
    call: Callable[[], object] = (
        (lambda: stripe.transfer("st-4003", PARTNER_ACCOUNT, 100, "cny")) if point == "stripe.create"
        else (lambda: stripe.retrieve_payment_intent(intent_id)))
    with pytest.raises(UpstreamUnavailable):
        call()


def test_a_definite_refusal_is_payment_refused_and_creates_nothing(server: SandboxServer,
                                                                   stripe_box: StripeSandbox) -> None:
    arm(server, "stripe.create_refuse", "error", status=402)
    with pytest.raises(PaymentRefused, match="card_declined"):
        adapter(server).create_payment_intent("o-4004", 100, "cny", "x")
    assert stripe_box.objects("payment_intents") == []


def test_unknown_payment_intent_is_refused(server: SandboxServer) -> None:
    with pytest.raises(PaymentRefused, match="resource_missing"):
        adapter(server).retrieve_payment_intent("pi_doesnotexist")


def test_unreachable_stripe_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stripe = StripeCardPayments(API_KEY, WEBHOOK_SECRET, f"http://127.0.0.1:{port}", timeout_s=1,
                                max_network_retries=0)
    with pytest.raises(UpstreamUnavailable):
        stripe.create_payment_intent("o-4005", 100, "cny", "x")


def test_bad_input_is_refused_without_calling_stripe(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    stripe = adapter(server)
    calls: list[Callable[[], object]] = [
        lambda: stripe.create_payment_intent("o-4006", 0, "cny", "x"),
        lambda: stripe.create_payment_intent("o 4006", 100, "cny", "x"),
        lambda: stripe.create_payment_intent("o-4006", 100, "yuan", "x"),
        lambda: stripe.refund("rf-4006", "ch_not_an_intent", 100),
        lambda: stripe.retrieve_payment_intent("../v1/transfers"),
    ]
    for call in calls:
        with pytest.raises(PaymentRefused, match="not sent"):
            call()
    assert stripe_box.objects("payment_intents") == [] and stripe_box.objects("refunds") == []


# ----------------------------------------------------------------------------- the sandbox's own rules


def test_requests_without_the_secret_key_are_401(server: SandboxServer, stripe_box: StripeSandbox) -> None:
    form = b"amount=100&currency=cny"
    status, answer = http(server, "POST", "/v1/payment_intents", form)
    assert status == 401
    assert set(answer["error"]) >= {"type", "code", "message"}
    assert answer["error"]["type"] == "invalid_request_error"
    wrong = base64.b64encode(b"sk_test_wrong:").decode()
    assert http(server, "POST", "/v1/payment_intents", form, {"Authorization": f"Basic {wrong}"})[0] == 401
    right = base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert http(server, "POST", "/v1/payment_intents", form, {"Authorization": f"Basic {right}"})[0] == 200
    with pytest.raises(PaymentRefused, match="401"):
        adapter(server, api_key="sk_test_wrong").create_payment_intent("o-5001", 100, "cny", "x")
    assert len(stripe_box.objects("payment_intents")) == 1


def test_unknown_parameters_and_bad_amounts_are_400(server: SandboxServer) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for form, code in ((b"amount=100&currency=cny&colour=red", "parameter_unknown"),
                       (b"amount=1.5&currency=cny", "parameter_invalid_integer"),
                       (b"currency=cny", "parameter_missing")):
        status, answer = http(server, "POST", "/v1/payment_intents", form, auth)
        assert (status, answer["error"]["code"]) == (400, code)


def test_inspection_lists_and_filters(server: SandboxServer, receiver: Receiver) -> None:
    stripe = adapter(server)
    intent_id = paid_intent(server, stripe, "o-6001", 100)
    stripe.create_payment_intent("o-6002", 200, "cny", "x")
    assert len(http(server, "GET", "/_sandbox/stripe/payment_intents")[1]["items"]) == 2
    succeeded = http(server, "GET", "/_sandbox/stripe/payment_intents?status=succeeded")[1]["items"]
    assert [i["id"] for i in succeeded] == [intent_id]
    events = http(server, "GET", "/_sandbox/stripe/events?type=payment_intent.succeeded")[1]["items"]
    assert [e["data"]["object"]["id"] for e in events] == [intent_id]
    assert http(server, "GET", f"/_sandbox/stripe/payment_intents/{intent_id}")[1]["status"] == "succeeded"
    assert http(server, "GET", "/_sandbox/stripe/invoices")[0] == 404
