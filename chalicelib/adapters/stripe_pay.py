"""Card payments through Stripe with the official ``stripe`` library: PaymentIntents, refunds, Connect
transfers and webhook verification (``ports.CardPayments``).

``stripe`` (and requests under it) load lazily, on the first call: importing this module costs nothing at
cold start (DESIGN §6). ``api_base`` points the library at Stripe or at the local sandbox.

Every create carries an idempotency key derived from our business key (``pi-{out_trade_no}``,
``re-{out_refund_no}``, the settlement id), so a retry after a lost answer — by the library
(``max_network_retries``) or by the caller after ``UpstreamUnavailable`` — gets the object the first request
made, never a second one. Outcomes: no answer, a 5xx, 429, 409 (Stripe's "retry me") or an unreadable answer
is ``UpstreamUnavailable``; any other 4xx is ``PaymentRefused`` (nothing was made), as is a request this
adapter never sent because its input could not be right.

Webhooks: ``stripe.Webhook.construct_event`` checks the HMAC of ``"{t}.{body}"`` in constant time before
anything is parsed and refuses a timestamp older than 300 s; this adapter also refuses one more than 300 s
in the future. Events the hub acts on: ``payment_intent.succeeded`` / ``payment_intent.payment_failed``
(``object`` is the PaymentIntent, ``metadata.out_trade_no``) and ``refund.created`` / ``refund.updated``
(the refund: ``metadata.out_refund_no``, ``status``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain.errors import CallbackRejected, DomainError, PaymentRefused, UpstreamUnavailable
from chalicelib.ports import Charge, ChargeState, Refund, RefundState, StripeEvent

log = logging.getLogger(__name__)

STRIPE_API_BASE = "https://api.stripe.com"
DEFAULT_CURRENCY = "cny"
WEBHOOK_TOLERANCE_S = 300
CHARGE_STATES = {"succeeded": ChargeState.SUCCEEDED, "canceled": ChargeState.CLOSED}  # others: pending
REFUND_STATES = {"succeeded": RefundState.SUCCEEDED, "failed": RefundState.FAILED, "canceled": RefundState.FAILED}
BUSINESS_KEY = re.compile(r"[A-Za-z0-9_\-:.]{1,200}")
CURRENCY = re.compile(r"[a-z]{3}")
RETRY_STATUSES = frozenset({409, 429})


def _amount_ok(amount: object) -> bool:
    return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0


class StripeCardPayments:
    """``ports.CardPayments`` against Stripe (or the sandbox, via ``api_base``)."""

    def __init__(self, api_key: str, webhook_secret: str, api_base: str = STRIPE_API_BASE, timeout_s: int = 10,
                 *, max_network_retries: int = 1) -> None:
        if not api_key or not webhook_secret:
            raise ValueError("Stripe needs a secret API key and a webhook signing secret")
        self._api_key, self._webhook_secret = api_key, webhook_secret
        self.api_base = api_base.rstrip("/")
        self.timeout_s = timeout_s
        self.max_network_retries = max_network_retries
        self._lock = threading.Lock()
        self._client: Any = None

    # ------------------------------------------------------------------------------ port methods
    def create_payment_intent(self, out_trade_no: str, amount_fen: int, currency: str = DEFAULT_CURRENCY,
                              description: str = "") -> Charge:
        what = f"create PaymentIntent for {out_trade_no}"
        currency = currency.lower() if isinstance(currency, str) else ""
        if not BUSINESS_KEY.fullmatch(str(out_trade_no)) or not _amount_ok(amount_fen) or not CURRENCY.fullmatch(
                currency):
            raise PaymentRefused(f"Stripe {what}: not sent, bad out_trade_no, amount or currency")
        params: dict[str, Any] = {"amount": amount_fen, "currency": currency, "payment_method_types": ["card"],
                                  "metadata": {"out_trade_no": out_trade_no}}
        if description:
            params["description"] = description[:1000]
        intent = self._call(what, lambda c: c.v1.payment_intents.create(
            params=params, options={"idempotency_key": f"pi-{out_trade_no}"}))
        charge = _charge(intent, out_trade_no)
        log.info("stripe %s: %s (%s)", what, charge.state, charge.provider_ref)
        return charge

    def retrieve_payment_intent(self, payment_intent_id: str) -> Charge:
        what = f"retrieve PaymentIntent {payment_intent_id}"
        if not isinstance(payment_intent_id, str) or not re.fullmatch(r"pi_[A-Za-z0-9]{1,250}", payment_intent_id):
            raise PaymentRefused(f"Stripe {what}: not sent, not a PaymentIntent id")
        intent = self._call(what, lambda c: c.v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["latest_charge"]}))
        return _charge(intent, "")

    def refund(self, out_refund_no: str, payment_intent_id: str, amount_fen: int) -> Refund:
        what = f"refund {out_refund_no} of {payment_intent_id}"
        if not BUSINESS_KEY.fullmatch(str(out_refund_no)) or not _amount_ok(amount_fen) or not str(
                payment_intent_id).startswith("pi_"):
            raise PaymentRefused(f"Stripe {what}: not sent, bad out_refund_no, PaymentIntent id or amount")
        refund = self._call(what, lambda c: c.v1.refunds.create(params={
            "payment_intent": payment_intent_id, "amount": amount_fen, "reason": "requested_by_customer",
            "metadata": {"out_refund_no": out_refund_no}, "expand": ["payment_intent"],
        }, options={"idempotency_key": f"re-{out_refund_no}"}))
        intent = refund.get("payment_intent")
        metadata = (intent.get("metadata") if isinstance(intent, Mapping) else None) or {}
        result = Refund(
            out_refund_no=str((refund.get("metadata") or {}).get("out_refund_no") or out_refund_no),
            out_trade_no=str(metadata.get("out_trade_no") or ""),
            amount_fen=int(refund.get("amount") or amount_fen),
            state=REFUND_STATES.get(str(refund.get("status")), RefundState.PENDING),
            provider_ref=str(refund.get("id") or "") or None,
        )
        log.info("stripe %s: %s (%s)", what, result.state, result.provider_ref)
        return result

    def transfer(self, settlement_id: str, destination: str, amount_fen: int, currency: str = DEFAULT_CURRENCY
                 ) -> str:
        what = f"transfer {settlement_id} to {destination}"
        currency = currency.lower() if isinstance(currency, str) else ""
        if (not BUSINESS_KEY.fullmatch(str(settlement_id)) or not _amount_ok(amount_fen)
                or not re.fullmatch(r"acct_[A-Za-z0-9]{1,250}", str(destination)) or not CURRENCY.fullmatch(currency)):
            raise PaymentRefused(f"Stripe {what}: not sent, bad settlement id, account, amount or currency")
        transfer = self._call(what, lambda c: c.v1.transfers.create(params={
            "amount": amount_fen, "currency": currency, "destination": destination,
            "metadata": {"settlement_id": settlement_id},
        }, options={"idempotency_key": settlement_id}))
        transfer_id = transfer.get("id")
        if not isinstance(transfer_id, str) or not transfer_id:
            raise UpstreamUnavailable(f"Stripe {what}: the answer has no transfer id")
        log.info("stripe %s: %s", what, transfer_id)
        return transfer_id

    def verify_webhook(self, body: bytes, signature_header: str | None) -> StripeEvent:
        import stripe

        try:
            event = stripe.Webhook.construct_event(body, signature_header, self._webhook_secret,
                                                   tolerance=WEBHOOK_TOLERANCE_S)
            data = event.to_dict()
            obj, event_id, event_type = data["data"]["object"], data["id"], data["type"]
        except Exception as exc:  # a bad signature, a stale timestamp, not UTF-8, not JSON, not an event
            raise CallbackRejected(f"Stripe webhook rejected: {type(exc).__name__}") from exc
        if _signed_at(signature_header) > time.time() + WEBHOOK_TOLERANCE_S:
            raise CallbackRejected("Stripe webhook rejected: timestamp in the future")
        if not isinstance(obj, dict) or not isinstance(event_id, str) or not isinstance(event_type, str):
            raise CallbackRejected("Stripe webhook rejected: not an event with an object")
        return StripeEvent(event_id=event_id, type=event_type, object=obj)

    # ------------------------------------------------------------------------------ plumbing
    def _stripe(self) -> Any:
        """The StripeClient, built on first use (imports stripe and requests then)."""
        with self._lock:
            if self._client is None:
                import stripe

                self._client = stripe.StripeClient(
                    self._api_key, base_addresses={"api": self.api_base},
                    http_client=stripe.RequestsClient(timeout=self.timeout_s),
                    max_network_retries=self.max_network_retries)
            return self._client

    def _call(self, what: str, call: Callable[[Any], Any]) -> dict[str, Any]:
        """Run one library call; its answer as a plain dict, or a domain error."""
        client = self._stripe()
        import stripe

        try:
            answer = call(client)
        except stripe.StripeError as exc:
            raise _translate(what, exc) from exc
        try:
            plain: dict[str, Any] = answer.to_dict()
        except AttributeError as exc:
            raise UpstreamUnavailable(f"Stripe {what}: unexpected answer") from exc
        return plain


def _translate(what: str, exc: Any) -> DomainError:
    status: int | None = exc.http_status
    code = exc.code or (exc.error.type if exc.error is not None else None) or "no code"
    detail = f"HTTP {status} {code}: {exc.user_message or ''}" if status is not None else type(exc).__name__
    if status is None or status >= 500 or status in RETRY_STATUSES or not 400 <= status < 500:
        log.warning("stripe %s: no usable answer (%s); retry with the same idempotency key", what, detail)
        return UpstreamUnavailable(f"Stripe {what} failed: {detail}")
    if status in (401, 403):
        log.error("stripe %s: the API key was refused (%s)", what, detail)
    else:
        log.warning("stripe %s refused: %s", what, detail)
    return PaymentRefused(f"Stripe refused to {what}: {detail}")


def _charge(intent: Mapping[str, Any], out_trade_no: str) -> Charge:
    intent_id, status = intent.get("id"), str(intent.get("status") or "")
    if not isinstance(intent_id, str) or not _amount_ok(intent.get("amount")):
        raise UpstreamUnavailable("Stripe answered a PaymentIntent without an id or amount")
    state = CHARGE_STATES.get(status, ChargeState.PENDING)
    latest = intent.get("latest_charge")
    if state is ChargeState.SUCCEEDED and isinstance(latest, Mapping) and int(latest.get("amount_refunded") or 0):
        state = ChargeState.REFUNDED
    secret = intent.get("client_secret")
    client_params = {"client_secret": secret, "payment_intent": intent_id} if isinstance(secret, str) else {}
    return Charge(provider="stripe", out_trade_no=str((intent.get("metadata") or {}).get("out_trade_no")
                                                      or out_trade_no),
                  amount_fen=int(intent["amount"]), state=state, provider_ref=intent_id, client_params=client_params)


def _signed_at(header: str | None) -> int:
    """The ``t=`` of a Stripe-Signature header that construct_event has accepted already."""
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return 0
