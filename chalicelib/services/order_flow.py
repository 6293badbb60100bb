"""Who does the work: partners answer offers, staff take what partners could not, the SLA job moves on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain import orders as rules
from chalicelib.domain.errors import BadInput, NotFound
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.orders import Order
from chalicelib.ports import Page
from chalicelib.services import order_changes
from chalicelib.services.deps import Deps

EVENT_TYPES = ("accept", "decline", "start", "complete")


def _actor(principal: Principal) -> str:
    return principal.subject if principal.role is Role.PARTNER else rules.STAFF


def worker_event(deps: Deps, principal: Principal, order_id: str, body: Mapping[str, Any]) -> Order:
    """``accept`` (with ``eta_minutes``), ``decline`` (with ``reason``), ``start``, ``complete``."""
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise BadInput("type is accept, decline, start or complete", code="invalid_event")
    eta = body.get("eta_minutes")
    if eta is not None and (not isinstance(eta, int) or isinstance(eta, bool)):
        raise BadInput("eta_minutes is a whole number", code="invalid_event")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadInput("reason is text", code="invalid_event")
    order = deps.orders.get(order_id)
    visible = order is not None and (
        (principal.role is Role.PARTNER and principal.subject in order.tried)
        or (principal.role is Role.STAFF and principal.community_id == order.community_id)
        or principal.role is Role.ADMIN)
    if order is None or not visible:
        raise NotFound("order not found", code="order_not_found")
    actor = _actor(principal)
    sla = order_changes.accept_sla_s(deps, order)
    return order_changes.apply(
        deps, order_id,
        lambda o: rules.partner_event(o, actor, str(kind), deps.clock.now_ms(), order_changes.candidates(deps, o),
                                      sla, eta_minutes=eta, reason=reason), first=order)


def partner_orders(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[Order]:
    return deps.orders.list_for_partner(principal.subject, limit, cursor)


def staff_work(deps: Deps, community_id: str, limit: int, cursor: str | None) -> Page[Order]:
    return deps.orders.staff_work(community_id, limit, cursor)


def expire_offers(deps: Deps, limit: int = 100) -> int:
    """The job: offers past their acceptance SLA go to the next partner (or to staff)."""
    moved = 0
    now = deps.clock.now_ms()
    for order in deps.orders.due_offers(now, limit):
        after = order_changes.apply(deps, order.order_id, _expiry(deps, order_changes.accept_sla_s(deps, order)),
                                    first=order)
        moved += after.version != order.version
    return moved


def _expiry(deps: Deps, sla: int) -> Callable[[Order], rules.Change]:
    return lambda o: rules.expire_offer(o, deps.clock.now_ms(), order_changes.candidates(deps, o), sla)
