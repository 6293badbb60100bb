"""How orders, services, partners and staff look on the wire."""

from __future__ import annotations

from typing import Any

from chalicelib.api.views import iso
from chalicelib.domain.catalog import Service
from chalicelib.domain.orders import Order
from chalicelib.domain.partners import Partner
from chalicelib.domain.staff import StaffMember
from chalicelib.domain.webhooks import WebhookEndpoint
from chalicelib.ports import Charge
from chalicelib.services.webhooks import DeliveryReport


def payment(order: Order, charge: Charge | None) -> dict[str, Any] | None:
    if order.provider is None:
        return None
    shown: dict[str, Any] = {"provider": order.provider.value, "out_trade_no": order.out_trade_no,
                             "paid": order.paid, "paid_at": None}
    if charge is not None and order.provider.value == "wechatpay":
        shown["request_payment"] = dict(charge.client_params)  # exactly what wx.requestPayment takes
    elif charge is not None:
        shown.update(charge.client_params)  # Stripe: client_secret and payment_intent
    return shown


def order(o: Order, charge: Charge | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "order_id": o.order_id, "status": o.status.value, "community_id": o.community_id,
        "service_id": o.service_id, "service_name": o.service_name, "building": o.building, "room": o.room,
        "note": o.note, "amount_fen": o.amount_fen, "currency": "CNY", "fulfilled_by": o.fulfilled_by,
        "partner_id": o.partner_id, "eta_minutes": o.eta_minutes,
        "offer_expires_at": iso(o.offer_deadline_ms), "refund_status": o.refund.value if o.refund else None,
        "created_at": iso(o.created_at_ms), "updated_at": iso(o.updated_at_ms),
        "completed_at": iso(o.completed_at_ms),
        "history": [{"status": s, "at": iso(at), "by": by} for s, at, by in o.history],
    }
    pay = payment(o, charge)
    if pay is not None:
        pay["paid_at"] = iso(o.paid_at_ms)
        shown["payment"] = pay
    return shown


def partner_order(o: Order, partner_id: str) -> dict[str, Any]:
    """A partner sees an order it was offered; once it went elsewhere it is ``withdrawn`` for them."""
    shown = {**o.webhook_data(), "status": o.status.value, "eta_minutes": o.eta_minutes,
             "offer_expires_at": iso(o.offer_deadline_ms), "created_at": iso(o.created_at_ms),
             "updated_at": iso(o.updated_at_ms)}
    if o.assignee != partner_id:
        shown["status"] = "withdrawn"
        shown["offer_expires_at"] = None
    return shown


def service(s: Service) -> dict[str, Any]:
    return {"service_id": s.service_id, "community_id": s.community_id, "name": s.name, "price_fen": s.price_fen,
            "fulfilled_by": s.fulfilled_by.value, "accept_sla_s": s.accept_sla_s, "complete_sla_s": s.complete_sla_s,
            "active": s.active}


def partner(p: Partner) -> dict[str, Any]:
    return {"partner_id": p.partner_id, "community_id": p.community_id, "name": p.name,
            "services": list(p.services), "stripe_account": p.stripe_account, "active": p.active,
            "created_at": iso(p.created_at_ms)}


def staff(m: StaffMember) -> dict[str, Any]:
    return {"staff_id": m.staff_id, "community_id": m.community_id, "name": m.name, "role": m.role.value,
            "created_at": iso(m.created_at_ms)}


def webhook_endpoint(e: WebhookEndpoint | None) -> dict[str, Any] | None:
    """Endpoint health for staff: never the secrets."""
    if e is None:
        return None
    return {"url": e.url, "status": e.status.value, "disabled_reason": e.disabled_reason,
            "failing_since": iso(e.failing_since_ms), "secrets_signing": len(e.secrets)}


def delivery(report: DeliveryReport) -> dict[str, Any]:
    d = report.delivery
    return {"webhook_id": d.message_id, "type": d.event_type, "status": d.status.value,
            "created_at": iso(d.created_at_ms), "next_attempt_at": iso(d.next_attempt_at_ms),
            "attempt_count": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
            "attempts": [{"number": a.number, "at": iso(a.at_ms), "status": a.status, "latency_ms": a.latency_ms,
                          "error": a.error, "response": a.response_head} for a in report.attempts]}
