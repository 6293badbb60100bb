"""Resident payments for orders: WeChat Pay JSAPI and refunds, Stripe cards and Connect transfers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ChargeState(StrEnum):
    """A resident's payment for an order, provider-neutral."""

    PENDING = "pending"  # created, not paid yet (WeChat NOTPAY/USERPAYING, Stripe requires_*)
    SUCCEEDED = "succeeded"  # money received (WeChat SUCCESS, Stripe succeeded)
    CLOSED = "closed"  # will never be paid (WeChat CLOSED/REVOKED/PAYERROR, Stripe canceled)
    REFUNDED = "refunded"  # WeChat REFUND: paid, then (partly) refunded


@dataclass(frozen=True)
class Charge:
    """A payment at a provider. ``out_trade_no`` is ours (WeChat's 商户订单号; Stripe metadata);
    ``provider_ref`` is theirs (WeChat transaction_id / Stripe PaymentIntent id).
    ``client_params`` is what the mini-program needs to pay: the ``wx.requestPayment`` parameters
    (appId, timeStamp, nonceStr, package, signType, paySign) or ``{"client_secret": ...}`` for Stripe."""

    provider: str  # "wechatpay" | "stripe"
    out_trade_no: str
    amount_fen: int
    state: ChargeState
    provider_ref: str | None = None
    client_params: Mapping[str, str] = field(default_factory=dict)


class RefundState(StrEnum):
    PENDING = "pending"  # WeChat PROCESSING, Stripe pending
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # WeChat ABNORMAL/CLOSED, Stripe failed/canceled


@dataclass(frozen=True)
class Refund:
    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    state: RefundState
    provider_ref: str | None = None


class WeChatJsapi(Protocol):
    """WeChat Pay v3 JSAPI payments (the mini-program pays) and refunds, public-key mode.

    Errors: ``UpstreamUnavailable`` when the answer was lost (timeout, reset, 5xx, 429) — retrying is safe,
    WeChat dedupes by out_trade_no / out_refund_no; ``PaymentRefused`` for a definite 4xx refusal.
    Callbacks (TRANSACTION.SUCCESS, REFUND.SUCCESS/ABNORMAL/CLOSED) are verified with
    ``WeChatPay.verify_notification``.
    """

    def create_jsapi_order(self, out_trade_no: str, openid: str, amount_fen: int, description: str) -> Charge:
        """Place the order (POST /v3/pay/transactions/jsapi) and sign the wx.requestPayment parameters."""

    def query_order(self, out_trade_no: str) -> Charge | None:
        """The order by out_trade_no, or None when WeChat does not know it (ORDER_NOT_EXIST)."""

    def close_order(self, out_trade_no: str) -> None: ...

    def refund(self, out_refund_no: str, out_trade_no: str, amount_fen: int, total_fen: int, reason: str) -> Refund:
        """POST /v3/refund/domestic/refunds; the result may be pending until the refund callback."""

    def query_refund(self, out_refund_no: str) -> Refund | None: ...


@dataclass(frozen=True)
class StripeEvent:
    """A verified Stripe webhook event: ``object`` is ``data.object`` as a plain dict."""

    event_id: str
    type: str
    object: Mapping[str, Any]


class CardPayments(Protocol):
    """Stripe through the official library: PaymentIntents, refunds, Connect transfers, webhooks.

    Every create carries an idempotency key derived from our business key, so a retry after a lost
    answer never makes a second object. Errors: ``UpstreamUnavailable`` (retry is safe),
    ``PaymentRefused`` (a definite 4xx).
    """

    def create_payment_intent(self, out_trade_no: str, amount_fen: int, currency: str,
                              description: str) -> Charge:
        """A PaymentIntent (card), idempotency key ``pi-{out_trade_no}``, metadata ``out_trade_no``;
        ``client_params`` = ``{"client_secret": ..., "payment_intent": id}``."""

    def retrieve_payment_intent(self, payment_intent_id: str) -> Charge: ...

    def refund(self, out_refund_no: str, payment_intent_id: str, amount_fen: int) -> Refund:
        """Idempotency key ``re-{out_refund_no}``, metadata ``out_refund_no``."""

    def transfer(self, settlement_id: str, destination: str, amount_fen: int, currency: str) -> str:
        """A Connect transfer to the partner's account; idempotency key = ``settlement_id``. Returns its id."""

    def verify_webhook(self, body: bytes, signature_header: str | None) -> StripeEvent:
        """``stripe.Webhook.construct_event`` (signature before parsing, 300 s tolerance).
        Raises ``CallbackRejected``."""
