"""Residents order services: create (with payment), follow, cancel.

The amount is always re-derived from the community's catalog on the server; the client names only the
service. A priced order is written first (``pending_payment``) and the payment is created after, with
an ``out_trade_no`` derived from the order id: a lost provider answer is retried with the same number,
which the provider dedupes, so a resident can never be charged twice for one order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import orders as rules
from chalicelib.domain.errors import BadInput, Conflict, DomainError, IllegalTransition, NotFound
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.orders import Order, OrderStatus, Provider
from chalicelib.ports import Charge, IdempotencyReused, Page
from chalicelib.services import order_changes, order_payments
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident


class ResidenceRequired(DomainError):
    code = "residence_required"


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    charge: Charge | None


def _request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _provider(deps: Deps, community_id: str, raw: object) -> Provider:
    try:
        provider = Provider(str(raw or Provider.WECHATPAY.value))
    except ValueError as exc:
        raise BadInput("provider is wechatpay or stripe", code="invalid_order") from exc
    if provider is Provider.STRIPE and not deps.communities.terms(community_id).settings.card_payments:
        raise BadInput("this community does not take card payments", code="provider_not_available")
    return provider


def place_order(deps: Deps, principal: Principal, body: Mapping[str, Any], idempotency_key: str | None) -> PlacedOrder:
    resident = current_resident(deps, principal)
    if not resident.community_id or not resident.building or not resident.room:
        raise ResidenceRequired("set your residence (PUT /v1/me/residence) before ordering")
    service_id = body.get("service_id")
    service = deps.catalog.get_service(resident.community_id, service_id) if isinstance(service_id, str) else None
    if service is None or not service.active:
        raise NotFound("no such service in your community", code="service_not_found")
    note = rules.check_note(body.get("note"))
    provider = _provider(deps, resident.community_id, body.get("provider")) if not service.is_free else None
    now = deps.clock.now_ms()
    order_id = deps.ids.new_id("o")
    order = Order(order_id=order_id, community_id=resident.community_id, resident_id=resident.resident_id,
                  service_id=service.service_id, service_name=service.name, building=resident.building,
                  room=resident.room, note=note, amount_fen=service.price_fen, fulfilled_by=service.fulfilled_by.value,
                  status=OrderStatus.PENDING_PAYMENT, created_at_ms=now, updated_at_ms=now, provider=provider,
                  out_trade_no=rules.out_trade_no_for(order_id) if provider else None,
                  history=((OrderStatus.PENDING_PAYMENT.value, now, "resident"),))
    change = rules.open_order(order, order_changes.candidates(deps, order), service.accept_sla_s, now)
    idem = (idempotency_key, _request_hash(body)) if idempotency_key else None
    try:
        deps.orders.save(order_changes.write_for(deps, None, change, idempotency=idem))
    except IdempotencyReused as reused:
        assert idem is not None
        if reused.request_hash != idem[1]:
            raise Conflict("this Idempotency-Key was used with a different request",
                           code="idempotency_key_reused") from reused
        existing = deps.orders.get(reused.resource_id)
        if existing is None:
            raise
        return PlacedOrder(existing, order_payments.charge_for(deps, existing, resident.openid))
    placed = change.order
    return PlacedOrder(placed, order_payments.charge_for(deps, placed, resident.openid))


def _visible(deps: Deps, principal: Principal, order: Order | None) -> Order:
    """Residents see their own orders, partners those offered to them, staff their community's.
    Anything else is 404: whether someone else's order exists is not the caller's business."""
    if order is not None:
        if principal.role is Role.ADMIN:
            return order
        if principal.role is Role.RESIDENT and order.resident_id == principal.subject:
            return order
        if principal.role is Role.PARTNER and principal.subject in order.tried:
            return order
        if principal.role is Role.STAFF and principal.community_id == order.community_id:
            return order
    raise NotFound("order not found", code="order_not_found")


def get_order(deps: Deps, principal: Principal, order_id: str) -> Order:
    return _visible(deps, principal, deps.orders.get(order_id))


def list_orders(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[Order]:
    return deps.orders.list_for_resident(principal.subject, limit, cursor)


def payment_for(deps: Deps, principal: Principal, order_id: str) -> PlacedOrder:
    """Fresh payment parameters for an order still waiting for payment (the resident closed the sheet)."""
    order = get_order(deps, principal, order_id)
    if order.status is not OrderStatus.PENDING_PAYMENT:
        raise IllegalTransition(f"the order is {order.status.value}, not waiting for payment",
                                      current=order.status.value)
    return PlacedOrder(order, order_payments.charge_for(deps, order, current_resident(deps, principal).openid))


def cancel_order(deps: Deps, principal: Principal, order_id: str) -> Order:
    get_order(deps, principal, order_id)
    by = "resident" if principal.role is Role.RESIDENT else principal.actor
    cancelled = order_changes.apply(deps, order_id, lambda o: rules.cancel(o, deps.clock.now_ms(), by))
    if cancelled.status is OrderStatus.CANCELLED and cancelled.provider is Provider.WECHATPAY and not cancelled.paid:
        order_payments.close_unpaid(deps, cancelled)
    return cancelled
