"""The money side of orders: charging the resident, payment callbacks, refunds, partner settlement.

Every provider call carries a number derived from the order (``out_trade_no`` ``LLO…``, ``out_refund_no``
``LLR…``, settlement id ``stl_…``) that the provider dedupes, so a retry after a lost answer can never
charge, refund or pay twice; every ledger movement is a transfer whose id is the order's, so a duplicate
callback can never move money twice either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from chalicelib.domain import ledger
from chalicelib.domain import orders as rules
from chalicelib.domain.errors import CallbackRejected, UpstreamUnavailable
from chalicelib.domain.orders import Order, OrderStatus, Provider, RefundStatus
from chalicelib.ports import Charge, ChargeState, PayNotification, Refund, RefundState, StripeEvent
from chalicelib.services import order_changes
from chalicelib.services.deps import Deps

CURRENCY = "cny"


def out_refund_no_for(order_id: str) -> str:
    return "LLR" + order_id.split("_", 1)[-1]


def settlement_id_for(order_id: str) -> str:
    return "stl_" + order_id.split("_", 1)[-1]


def _description(order: Order) -> str:
    return f"邻里服务 {order.service_name}"[:127]


def charge_for(deps: Deps, order: Order, openid: str) -> Charge | None:
    """The payment the resident completes in the mini-program (None for a free or already-paid order)."""
    if order.status is not OrderStatus.PENDING_PAYMENT or order.amount_fen == 0 or order.out_trade_no is None:
        return None
    if order.provider is Provider.STRIPE:
        return deps.card_payments.create_payment_intent(order.out_trade_no, order.amount_fen, CURRENCY,
                                                        _description(order))
    return deps.jsapi.create_jsapi_order(order.out_trade_no, openid, order.amount_fen, _description(order))


def close_unpaid(deps: Deps, order: Order) -> None:
    """Close the WeChat order of a cancelled unpaid order so it can no longer be paid. If closing fails,
    a payment that still arrives is refunded (``rules.pay`` on a cancelled order)."""
    if order.out_trade_no is None:
        return
    with contextlib.suppress(UpstreamUnavailable):
        deps.jsapi.close_order(order.out_trade_no)


def paid(deps: Deps, out_trade_no: str, payment_ref: str, amount_fen: int, marker: str) -> str:
    """The provider says an order was paid: offer it (or refund it, if it was cancelled meanwhile)."""
    order_id = rules.order_id_for(out_trade_no)
    order = deps.orders.get(order_id) if order_id else None
    if order is None:
        return f"unknown order {out_trade_no}"
    if amount_fen != order.amount_fen:
        raise CallbackRejected(f"order {order.order_id} costs {order.amount_fen} fen, paid {amount_fen}")
    sla = order_changes.accept_sla_s(deps, order)
    after = order_changes.apply(
        deps, order.order_id,
        lambda o: rules.pay(o, payment_ref, amount_fen, order_changes.candidates(deps, o), sla, deps.clock.now_ms()),
        marker=marker, first=order)
    return f"order {order.order_id} paid → {after.status.value}"


def wechat_notice(deps: Deps, notice: PayNotification) -> str:
    """TRANSACTION.SUCCESS and REFUND.* callbacks (already verified and decrypted)."""
    resource = notice.resource
    try:
        if notice.event_type == "TRANSACTION.SUCCESS":
            if resource.get("trade_state") != "SUCCESS":
                return f"ignored trade_state {resource.get('trade_state')}"
            return paid(deps, str(resource["out_trade_no"]), str(resource["transaction_id"]),
                        int(resource["amount"]["total"]), f"wxpay:{notice.notification_id}")
        if notice.event_type.startswith("REFUND."):
            state = RefundState.SUCCEEDED if resource.get("refund_status") == "SUCCESS" else RefundState.FAILED
            return refund_result(deps, str(resource["out_trade_no"]), state, f"wxpay:{notice.notification_id}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CallbackRejected(f"notification {notice.notification_id} is malformed") from exc
    return f"ignored {notice.event_type}"


def stripe_event(deps: Deps, event: StripeEvent) -> str:
    obj: Mapping[str, Any] = event.object
    metadata = obj.get("metadata") or {}
    if event.type == "payment_intent.succeeded":
        return paid(deps, str(metadata.get("out_trade_no", "")), str(obj.get("id")),
                    int(obj.get("amount_received") or obj.get("amount") or 0), f"stripe:{event.event_id}")
    if event.type in ("refund.updated", "refund.created") and obj.get("status") in ("succeeded", "failed", "canceled"):
        order = _by_refund_no(deps, str(metadata.get("out_refund_no", "")))
        if order is None or order.out_trade_no is None:
            return "unknown refund"
        state = RefundState.SUCCEEDED if obj.get("status") == "succeeded" else RefundState.FAILED
        return refund_result(deps, order.out_trade_no, state, f"stripe:{event.event_id}")
    return f"ignored {event.type}"


def _by_refund_no(deps: Deps, out_refund_no: str) -> Order | None:
    if not out_refund_no.startswith("LLR"):
        return None
    return deps.orders.get("o_" + out_refund_no[3:])


def refund_result(deps: Deps, out_trade_no: str, state: RefundState, marker: str | None) -> str:
    if state is RefundState.PENDING:
        return "refund still pending"
    order_id = rules.order_id_for(out_trade_no)
    order = deps.orders.get(order_id) if order_id else None
    if order is None:
        return f"unknown order {out_trade_no}"
    ok = state is RefundState.SUCCEEDED
    after = order_changes.apply(
        deps, order.order_id, lambda o: rules.refund_settled(o, ok, deps.clock.now_ms()), marker=marker,
        extra=lambda o: [order_changes.refund_transfer(o)] if ok and o.paid and o.amount_fen > 0 else [],
        first=order)
    return f"order {order.order_id} refund {state.value} → {after.status.value}"


def start_refund(deps: Deps, order_id: str) -> str:
    """Ask the provider to refund a cancelled paid order (from the outbox, and again from the job)."""
    order = deps.orders.get(order_id)
    if order is None or order.refund is not RefundStatus.PENDING or order.out_trade_no is None:
        return "no refund due"
    out_refund_no = out_refund_no_for(order.order_id)
    refund: Refund
    if order.provider is Provider.STRIPE:
        refund = deps.card_payments.refund(out_refund_no, order.payment_ref or "", order.amount_fen)
    else:
        refund = deps.jsapi.refund(out_refund_no, order.out_trade_no, order.amount_fen, order.amount_fen,
                                   "订单已取消")
    if refund.state is RefundState.PENDING:
        return f"refund {out_refund_no} pending"
    return refund_result(deps, order.out_trade_no, refund.state, None)


def expire_unpaid(deps: Deps, limit: int = 50) -> int:
    """The job: orders unpaid after the payment window. WeChat is asked first — a payment whose callback
    was lost is applied — otherwise the WeChat order is closed and ours cancelled."""
    now = deps.clock.now_ms()
    ended = 0
    for order in deps.orders.payments_due(now - rules.PAYMENT_WINDOW_MS, limit):
        try:
            if order.provider is Provider.WECHATPAY and order.out_trade_no:
                charge = deps.jsapi.query_order(order.out_trade_no)
                if charge is not None and charge.state in (ChargeState.SUCCEEDED, ChargeState.REFUNDED):
                    paid(deps, order.out_trade_no, charge.provider_ref or "", charge.amount_fen,
                         f"wxquery:{order.out_trade_no}")
                    ended += 1
                    continue
                deps.jsapi.close_order(order.out_trade_no)
        except UpstreamUnavailable:
            continue  # the next run asks again
        order_changes.apply(deps, order.order_id, lambda o: rules.payment_expired(o, deps.clock.now_ms()),
                            first=order)
        ended += 1
    return ended


def check_refunds(deps: Deps, limit: int = 50) -> int:
    """The job: refunds whose callback never came are asked for again (the provider dedupes)."""
    done = 0
    for order in deps.orders.refunds_pending(limit):
        try:
            start_refund(deps, order.order_id)
            done += 1
        except UpstreamUnavailable:
            continue
    return done


def settle_partner(deps: Deps, order_id: str, share: int, commission: int) -> str:
    """After a partner completed an order: move the community's commission out of the escrow, and pay
    a partner with a Stripe connected account the share the ledger moved to its payable."""
    order = deps.orders.get(order_id)
    if order is None:
        return "unknown order"
    if commission > 0:
        deps.ledger.transfer(order_changes.commission_transfer(order, commission, deps.clock.now_ms()))
    partner = deps.partners.get(order.partner_id) if order.partner_id else None
    if partner is None or not partner.stripe_account:
        return "commission booked; no card settlement"
    account = ledger.partner_payable(partner.partner_id)
    if share <= 0:
        return "nothing to settle"
    settlement_id = settlement_id_for(order.order_id)
    transfer_ref = deps.card_payments.transfer(settlement_id, partner.stripe_account, share, CURRENCY)
    deps.ledger.transfer(ledger.Transfer.for_event(
        ledger.TransferKind.PARTNER_PAYOUT, settlement_id, account, ledger.partner_paid(settlement_id), share,
        deps.clock.now_ms(), {"order_id": order.order_id, "stripe_transfer": transfer_ref}))
    return f"settled {share} fen to {partner.partner_id} ({transfer_ref})"
