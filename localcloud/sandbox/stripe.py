"""Stripe (PaymentIntents, refunds, Connect transfers, webhooks), stood in for on one machine.

The paths, form encoding, object shapes and error shapes the hub's adapter uses, so the official ``stripe``
library pointed at the sandbox (``base_addresses={"api": <sandbox>}``) works unmodified:
- every ``/v1`` request needs the secret key (``Authorization: Bearer sk_...`` or basic auth with the key as
  user name); else 401 ``{"error": {"type": "invalid_request_error", "code": "api_key_invalid", ...}}``;
- a POST's ``Idempotency-Key`` replays the first answer (header ``Idempotent-Replayed: true``) for the same
  path and parameters, and is 400 ``idempotency_error`` for different ones; a request that failed validation
  saves nothing, as at Stripe;
- unknown parameters are 400 ``parameter_unknown``; amounts are integers in the smallest unit (fen for cny).

API: ``POST /v1/payment_intents`` (status ``requires_payment_method``), ``GET /v1/payment_intents/{id}``
(``expand[]=latest_charge``), ``POST /v1/refunds`` (by ``payment_intent`` or ``charge``; amount ≤ what is not
refunded yet, default all of it; ``expand[]`` ``payment_intent`` / ``charge``), ``GET /v1/refunds/{id}``,
``POST /v1/transfers`` (``destination`` is a connected account: any ``acct_...`` id is taken and recorded),
``GET /v1/transfers/{id}``. No balance is kept: transfers never fail for want of funds.

Test helpers (like Stripe's), with the events they send:
- ``POST /_sandbox/stripe/payment_intents/{id}/succeed`` → ``succeeded`` with a charge: ``payment_intent.succeeded``
- ``POST /_sandbox/stripe/payment_intents/{id}/fail`` → back to ``requires_payment_method`` with a
  ``last_payment_error`` (card_declined): ``payment_intent.payment_failed``
- a refund is created ``succeeded`` (or ``pending`` when ``refund_status = "pending"``): ``refund.created``
  and ``charge.refunded`` (the charge, its ``amount_refunded`` counting the refund);
  ``POST /_sandbox/stripe/refunds/{id}/succeed`` (from pending) and ``/fail`` (→ ``failed``, the amount no
  longer counted as refunded): ``refund.updated``
- a transfer: ``transfer.created``
The hub consumes ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` (the PaymentIntent, with
``metadata.out_trade_no``) and ``refund.created`` / ``refund.updated`` (the refund, ``metadata.out_refund_no``
and ``status``); see ``stripe_events`` for signing and retries. Events go to ``webhook_url`` (None: only
recorded) when their type is in ``enabled_events`` (``"*"``: all).

Inspect: ``GET /_sandbox/stripe/{objects}`` → ``{"items": [...]}`` oldest first, for ``payment_intents``,
``charges``, ``refunds``, ``transfers``, ``accounts``, ``events``, ``deliveries``; any query parameter filters
on a top-level field (``?type=payment_intent.succeeded``); ``GET /_sandbox/stripe/{objects}/{id}``;
``POST /_sandbox/stripe/reset``.

Fault points: ``stripe.create`` acts AFTER a PaymentIntent / refund / transfer is stored (and its idempotent
answer saved): ``timeout``, ``error`` (a ``status`` answer, default 503 ``api_error``), ``http_error`` — an
answer lost on the way back, so a retry with the same key gets the stored object. ``stripe.create_refuse``
acts BEFORE anything: ``error`` is a 4xx (402 → ``card_error``/``card_declined``, 429 → ``rate_limit``).
``stripe.retrieve`` before a GET answers. ``stripe.webhook``: ``duplicate`` / ``delay``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from localcloud.sandbox.faults import REQUEST_MODES, Fault
from localcloud.sandbox.routing import HttpError, Request, Response, json_response
from localcloud.sandbox.server import SandboxServer
from localcloud.sandbox.stripe_events import WebhookDeliveries
from localcloud.sandbox.stripe_form import StripeError, check_known, decode_form, expand_param, invalid
from localcloud.sandbox.stripe_objects import KINDS, StripeObjects, new_id

API_VERSION = "2026-10-28.endive"
FAULT_POINTS = ("stripe.create", "stripe.create_refuse", "stripe.retrieve")
WEBHOOK_POINT = "stripe.webhook"
Create = Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]


class StripeSandbox:
    """One Stripe account (its secret key and one webhook endpoint). Thread-safe."""

    def __init__(self, api_key: str, webhook_secret: str, retry_scale: float = 1.0, *,
                 webhook_url: str | None = None, enabled_events: Iterable[str] = ("*",),
                 refund_status: str = "succeeded", webhook_timeout_s: float = 5.0) -> None:
        if not api_key or not webhook_secret:
            raise ValueError("the Stripe sandbox needs an api key and a webhook secret")
        if refund_status not in ("succeeded", "pending"):
            raise ValueError("refunds are created succeeded or pending")
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.retry_scale, self.webhook_timeout_s = retry_scale, webhook_timeout_s
        #: where events are POSTed; None records them only. May be set at any time.
        self.webhook_url = webhook_url
        self.enabled_events = tuple(enabled_events)
        self._lock = threading.RLock()
        self._store = StripeObjects(self._emit, refund_status)
        self._idempotency: dict[str, tuple[str, bytes]] = {}  # key -> (fingerprint, saved answer)
        self._server: SandboxServer | None = None
        self._webhooks: WebhookDeliveries | None = None

    @property
    def refund_status(self) -> str:
        return self._store.refund_status

    @refund_status.setter
    def refund_status(self, status: str) -> None:
        with self._lock:
            self._store.refund_status = status

    def register(self, server: SandboxServer) -> None:
        self._server = server
        self._webhooks = WebhookDeliveries(self.webhook_secret, server.faults.stopping, self.retry_scale,
                                           self.webhook_timeout_s)
        server.faults.declare(*FAULT_POINTS, modes=REQUEST_MODES)
        server.faults.declare(WEBHOOK_POINT, modes=("duplicate", "delay"))
        server.route("POST", "/v1/payment_intents", self._api(self._create(self._store.create_payment_intent)))
        server.route("GET", "/v1/payment_intents/{id}", self._api(self._retrieve("payment_intents", ["latest_charge"])))
        server.route("POST", "/v1/refunds", self._api(self._create(self._store.create_refund)))
        server.route("GET", "/v1/refunds/{id}", self._api(self._retrieve("refunds", ["charge", "payment_intent"])))
        server.route("POST", "/v1/transfers", self._api(self._create(self._store.create_transfer)))
        server.route("GET", "/v1/transfers/{id}", self._api(self._retrieve("transfers", ["destination"])))
        helpers: dict[str, Callable[[str], dict[str, Any]]] = {
            "payment_intents/{id}/succeed": self.succeed, "payment_intents/{id}/fail": self.fail,
            "refunds/{id}/succeed": self.succeed_refund, "refunds/{id}/fail": self.fail_refund}
        for path, helper in helpers.items():
            server.route("POST", f"/_sandbox/stripe/{path}", self._helper(helper))
        server.route("GET", "/_sandbox/stripe/{objects}", self._list_route)
        server.route("GET", "/_sandbox/stripe/{objects}/{id}", self._get_route)
        server.route("POST", "/_sandbox/stripe/reset", self._reset_route)

    # ------------------------------------------------------------------------ in-process control
    def objects(self, kind: str, /, **filters: Any) -> list[dict[str, Any]]:
        """Every stored object of ``kind`` (or ``deliveries``) whose top-level fields equal ``filters``."""
        if kind == "deliveries":
            items = self._deliveries().describe()
        else:
            with self._lock:
                items = self._store.all(kind)
        return [i for i in items if all(str(i.get(k)) == str(v) for k, v in filters.items())]

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._store.get(kind, object_id)

    def succeed(self, payment_intent_id: str) -> dict[str, Any]:
        with self._lock:
            return self._store.succeed(payment_intent_id)

    def fail(self, payment_intent_id: str) -> dict[str, Any]:
        with self._lock:
            return self._store.fail(payment_intent_id)

    def succeed_refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return self._store.succeed_refund(refund_id)

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return self._store.fail_refund(refund_id)

    def reset(self) -> None:
        with self._lock:
            self._store.clear()
            self._idempotency.clear()
        self._deliveries().reset()

    # ------------------------------------------------------------------------------- the API
    def _api(self, handler: Callable[[Request, dict[str, Any]], Response]) -> Callable[[Request], Response]:
        """A Stripe API route: authenticated, parameters decoded, errors in Stripe's shape."""

        def run(request: Request) -> Response:
            headers = {"Request-Id": new_id("req_", 14), "Stripe-Version": API_VERSION}
            try:
                self._authenticate(request)
                pairs = list(request.query.items()) if request.method == "GET" else self._form(request)
                response = handler(request, decode_form(pairs))
            except StripeError as exc:
                extra = {"WWW-Authenticate": 'Basic realm="Stripe"'} if exc.status == 401 else {}
                return exc.response({**headers, **extra})
            return Response(response.status, response.body, response.content_type, {**headers, **response.headers})

        return run

    @staticmethod
    def _form(request: Request) -> list[tuple[str, str]]:
        try:
            return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise invalid("The request body is not valid UTF-8 form data.") from exc

    def _authenticate(self, request: Request) -> None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credential.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(401, "invalid_request_error", "You did not provide an API key. Provide it in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                              "YOUR_SECRET_KEY').", "api_key_missing")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}****{key[-4:]}",
                              "api_key_invalid")

    def _create(self, make: Create) -> Callable[[Request, dict[str, Any]], Response]:
        """Idempotent creation: replay, refuse a reused key, or make and save the answer; then act out faults."""

        def run(request: Request, params: dict[str, Any]) -> Response:
            if (faulted := self._fault("stripe.create_refuse")) is not None:
                return faulted
            key = request.headers.get("idempotency-key") or ""
            fingerprint = json.dumps([request.path, params], sort_keys=True)
            with self._lock:
                saved = self._idempotency.get(key) if key else None
                if saved is not None:
                    if not hmac.compare_digest(saved[0], fingerprint):
                        raise StripeError(400, "idempotency_error", "Keys for idempotent requests can only be used "
                                          "with the same parameters they were first used with. Try using a key "
                                          f"other than '{key}' if you meant to execute a different request.")
                    return Response(200, saved[1], headers={"Idempotent-Replayed": "true"})
                created, expand = make(params)
                kind = {"payment_intent": "payment_intents", "refund": "refunds", "transfer": "transfers"}
                body = json.dumps(self._store.view(kind[created["object"]], created["id"], expand)).encode()
                if key:
                    self._idempotency[key] = (fingerprint, body)
            if (faulted := self._fault("stripe.create")) is not None:
                return faulted
            return Response(200, body)

        return run

    def _retrieve(self, kind: str, expandable: list[str]) -> Callable[[Request, dict[str, Any]], Response]:
        def run(request: Request, params: dict[str, Any]) -> Response:
            if (faulted := self._fault("stripe.retrieve")) is not None:
                return faulted
            check_known(params, ["expand"])
            expand = expand_param(params, expandable)
            object_id = request.path_params["id"]
            with self._lock:
                if self._store.live(kind, object_id) is None:
                    raise StripeError(404, "invalid_request_error", f"No such {kind[:-1]}: '{object_id}'",
                                      "resource_missing", "id")
                return json_response(self._store.view(kind, object_id, expand))

        return run

    # ------------------------------------------------------------------------------ internals
    def _deliveries(self) -> WebhookDeliveries:
        assert self._webhooks is not None, "register() first"
        return self._webhooks

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        """Record the event (a snapshot of ``obj``) and send it to the endpoint if it listens for it."""
        event = self._store.add("events", {
            "id": new_id("evt_"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)}, "livemode": False, "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None}, "type": event_type})
        url = self.webhook_url
        if not url or not ("*" in self.enabled_events or event_type in self.enabled_events):
            return
        event["pending_webhooks"] = 1
        assert self._server is not None, "register() first"
        fault = self._server.faults.take(WEBHOOK_POINT)
        copies = 2 if fault is not None and fault.mode == "duplicate" else 1
        delay = fault.delay_s if fault is not None and fault.mode == "delay" else 0.0
        body = json.dumps(event, indent=2).encode()
        self._deliveries().send(event["id"], event_type, body, url, copies, delay)

    def _fault(self, point: str) -> Response | None:
        assert self._server is not None, "register() first"

        def answer(fault: Fault) -> Response:
            headers = {"Request-Id": new_id("req_", 14)}
            if point != "stripe.create_refuse":
                limited = fault.status == 429
                kind, code = ("invalid_request_error", "rate_limit") if limited else ("api_error", fault.code)
                return StripeError(fault.status, kind, "An unknown error occurred", code).response(headers)
            status = fault.status if 400 <= fault.status < 500 else 402
            if status == 402:
                return StripeError(402, "card_error", "Your card was declined.",
                                   fault.code or "card_declined").response(headers)
            code = "rate_limit" if status == 429 else fault.code
            return StripeError(status, "invalid_request_error", "The sandbox refused the request.", code
                               ).response(headers)

        return self._server.faults.apply(point, answer)

    # ----------------------------------------------------------------------------- sandbox routes
    def _helper(self, helper: Callable[[str], dict[str, Any]]) -> Callable[[Request], Response]:
        return lambda request: json_response(helper(request.path_params["id"]))

    def _list_route(self, request: Request) -> Response:
        kind = request.path_params["objects"]
        if kind not in (*KINDS, "deliveries"):
            raise HttpError(404, "not_found", f"no Stripe objects called {kind}; try one of {[*KINDS, 'deliveries']}")
        return json_response({"items": self.objects(kind, **request.query)})

    def _get_route(self, request: Request) -> Response:
        kind, object_id = request.path_params["objects"], request.path_params["id"]
        found = self.get(kind, object_id) if kind in KINDS else None
        if found is None:
            raise HttpError(404, "not_found", f"no {kind} {object_id}")
        return json_response(found)

    def _reset_route(self, _request: Request) -> Response:
        self.reset()
        return json_response({"status": "ok"})
