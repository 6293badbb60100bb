"""A resident's service order (服务订单) and the only ways its state may change.

    pending_payment ──paid──▶ offered ──accept──▶ accepted ──start──▶ in_progress ──complete──▶ completed
                               │  ▲                   (accepted ──complete──▶ completed: start implied)
               decline/expiry  │  │ next partner
                               ▼  │
                       declined / expired  (nobody left: the order waits in the staff work list;
                                            staff accept it like a partner would)
    cancel (before in_progress): ──▶ cancelled ──refund settled──▶ refunded  (only if it was paid)

A free order (price 0) skips payment. A staff-fulfilled service is "offered" to the staff work list
instead of a partner. Every change returns the events to write in the same transaction; a command that
repeats what already happened (the same partner accepting twice, a second payment callback) is a
no-op, never an error, so at-least-once inputs are safe; a command that does not fit the state
raises ``IllegalTransition`` carrying the current state (HTTP 409).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import BadInput, Forbidden, IllegalTransition

MAX_NOTE = 200
#: an order not paid within this is cancelled (WeChat JSAPI orders expire after 2 h by default)
PAYMENT_WINDOW_MS = 2 * 3600 * 1000
MAX_ETA_MINUTES = 24 * 60
MAX_REASON = 200
STAFF = "staff"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DECLINED = "declined"  # every partner declined: waiting for staff
    EXPIRED = "expired"  # the last offer ran out: waiting for staff
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


#: the resident may cancel until the work starts
CANCELLABLE = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.OFFERED, OrderStatus.ACCEPTED,
                         OrderStatus.DECLINED, OrderStatus.EXPIRED})
WAITING_FOR_STAFF = frozenset({OrderStatus.DECLINED, OrderStatus.EXPIRED})
OPEN = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.OFFERED, OrderStatus.ACCEPTED,
                  OrderStatus.IN_PROGRESS, OrderStatus.DECLINED, OrderStatus.EXPIRED})


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Provider(StrEnum):
    WECHATPAY = "wechatpay"
    STRIPE = "stripe"


@dataclass(frozen=True)
class Event:
    """A domain event: ``audience`` is who hears of it (``partner:<id>``, ``resident``, ``money``)."""

    type: str
    audience: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Order:
    order_id: str
    community_id: str
    resident_id: str
    service_id: str
    service_name: str
    building: str
    room: str
    note: str
    amount_fen: int
    fulfilled_by: str  # "partner" | "staff"
    status: OrderStatus
    created_at_ms: int
    updated_at_ms: int
    version: int = 0
    provider: Provider | None = None
    out_trade_no: str | None = None
    payment_ref: str | None = None  # WeChat transaction_id / Stripe PaymentIntent id
    paid_at_ms: int | None = None
    assignee: str | None = None  # the partner id offered / working, or "staff:<id>" / "staff"
    tried: tuple[str, ...] = ()  # partners this order was offered to, in order
    offer_deadline_ms: int | None = None
    eta_minutes: int | None = None
    reason: str | None = None  # the last decline reason
    refund: RefundStatus | None = None
    completed_at_ms: int | None = None
    history: tuple[tuple[str, int, str], ...] = ()  # (status, at_ms, by)

    @property
    def paid(self) -> bool:
        return self.paid_at_ms is not None

    @property
    def partner_id(self) -> str | None:
        return self.assignee if self.assignee and not self.assignee.startswith(STAFF) else None

    def webhook_data(self) -> dict[str, Any]:
        """DESIGN §5: what a partner is told about an order."""
        return {"order_id": self.order_id, "service_id": self.service_id, "community_id": self.community_id,
                "building": self.building, "room": self.room, "note": self.note, "amount_fen": self.amount_fen}


@dataclass(frozen=True)
class Change:
    order: Order
    events: tuple[Event, ...] = ()
    changed: bool = True
    settle: bool = False  # completed a paid order: settle the partner's share
    refund: bool = False  # cancelled a paid order (or money arrived after cancel): refund it


def check_note(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > MAX_NOTE:
        raise BadInput(f"note is text of at most {MAX_NOTE} characters", code="invalid_order")
    return raw.strip()


def out_trade_no_for(order_id: str) -> str:
    """WeChat's 商户订单号 (6–32 of [A-Za-z0-9_-|*]): derived, so the order is found from the callback."""
    return "LLO" + order_id.split("_", 1)[-1]


def order_id_for(out_trade_no: str) -> str | None:
    return "o_" + out_trade_no[3:] if out_trade_no.startswith("LLO") and len(out_trade_no) > 3 else None


def _moved(order: Order, status: OrderStatus, now_ms: int, by: str, **changes: Any) -> Order:
    return replace(order, status=status, updated_at_ms=now_ms, version=order.version + 1,
                   history=(*order.history, (status.value, now_ms, by)), **changes)


def _offer(order: Order, candidates: list[str], accept_sla_s: int, now_ms: int, by: str,
           exhausted: OrderStatus) -> tuple[Order, list[Event]]:
    """Offer to the first candidate not tried yet, or leave the order for staff."""
    untried = [p for p in candidates if p not in order.tried]
    if order.fulfilled_by == STAFF:
        moved = _moved(order, OrderStatus.OFFERED, now_ms, by, assignee=STAFF, offer_deadline_ms=None)
        return moved, [Event("order.staff_work", "staff", moved.webhook_data())]
    if not untried:
        moved = _moved(order, exhausted, now_ms, by, assignee=None, offer_deadline_ms=None)
        return moved, [Event("order.escalated", "staff", moved.webhook_data())]
    partner = untried[0]
    moved = _moved(order, OrderStatus.OFFERED, now_ms, by, assignee=partner, tried=(*order.tried, partner),
                   offer_deadline_ms=now_ms + accept_sla_s * 1000)
    return moved, [Event("order.offered", f"partner:{partner}", moved.webhook_data())]


def _told(order: Order, events: list[Event]) -> tuple[Event, ...]:
    """Every change is also told to the resident (a subscribe message)."""
    notice = Event("order.updated", "resident", {"resident_id": order.resident_id, "order_id": order.order_id,
                                                 "status": order.status.value, "service_name": order.service_name})
    return (*events, notice)


def open_order(order: Order, candidates: list[str], accept_sla_s: int, now_ms: int) -> Change:
    """A new free order goes straight to its fulfiller; a priced one waits for payment."""
    if order.amount_fen > 0:
        return Change(order, ())
    moved, events = _offer(order, candidates, accept_sla_s, now_ms, "resident", OrderStatus.DECLINED)
    return Change(moved, _told(moved, events))


def pay(order: Order, payment_ref: str, amount_fen: int, candidates: list[str], accept_sla_s: int,
        now_ms: int) -> Change:
    """The provider says the money arrived. Money that arrives for a cancelled order is refunded."""
    if order.paid:
        return Change(order, (), changed=False)
    if amount_fen != order.amount_fen:
        raise BadInput(f"paid {amount_fen} fen for an order of {order.amount_fen} fen", code="amount_mismatch")
    paid = replace(order, payment_ref=payment_ref, paid_at_ms=now_ms)
    if order.status is not OrderStatus.PENDING_PAYMENT:  # cancelled while the resident was paying
        late = replace(paid, refund=RefundStatus.PENDING, updated_at_ms=now_ms, version=order.version + 1)
        return Change(late, (), settle=False, refund=True)
    moved, events = _offer(paid, candidates, accept_sla_s, now_ms, "payment", OrderStatus.DECLINED)
    return Change(moved, _told(moved, events))


def partner_event(order: Order, partner_id: str, kind: str, now_ms: int, candidates: list[str],
                  accept_sla_s: int, eta_minutes: int | None = None, reason: str | None = None) -> Change:
    """accept / decline / start / complete from the partner (or ``staff:<id>``) doing the work."""
    if partner_id not in order.tried and order.assignee != partner_id and not partner_id.startswith(STAFF):
        raise Forbidden("this order was not offered to you", code="not_your_order")
    if kind == "accept":
        return _accept(order, partner_id, now_ms, eta_minutes)
    if kind == "decline":
        return _decline(order, partner_id, now_ms, candidates, accept_sla_s, reason)
    if kind == "start":
        return _work(order, partner_id, now_ms, {OrderStatus.ACCEPTED}, OrderStatus.IN_PROGRESS)
    if kind == "complete":
        return _work(order, partner_id, now_ms, {OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS},
                     OrderStatus.COMPLETED)
    raise BadInput("type is accept, decline, start or complete", code="invalid_event")


def _illegal(order: Order, what: str) -> IllegalTransition:
    return IllegalTransition(f"cannot {what} an order that is {order.status.value}", current=order.status.value)


def _accept(order: Order, actor: str, now_ms: int, eta_minutes: int | None) -> Change:
    if eta_minutes is not None and not 0 <= eta_minutes <= MAX_ETA_MINUTES:
        raise BadInput(f"eta_minutes is 0–{MAX_ETA_MINUTES}", code="invalid_event")
    is_staff = actor.startswith(STAFF)
    if order.assignee == actor and order.status in (OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS,
                                                    OrderStatus.COMPLETED):
        return Change(order, (), changed=False)  # a repeated accept
    takes_offer = order.status is OrderStatus.OFFERED and (
        order.assignee == actor or (is_staff and order.assignee == STAFF))
    takes_escalation = is_staff and order.status in WAITING_FOR_STAFF
    if not (takes_offer or takes_escalation):
        raise _illegal(order, "accept")
    moved = _moved(order, OrderStatus.ACCEPTED, now_ms, actor, assignee=actor, offer_deadline_ms=None,
                   eta_minutes=eta_minutes)
    return Change(moved, _told(moved, []))


def _decline(order: Order, actor: str, now_ms: int, candidates: list[str], accept_sla_s: int,
             reason: str | None) -> Change:
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise BadInput(f"reason is text of at most {MAX_REASON} characters", code="invalid_event")
    if order.status is not OrderStatus.OFFERED or order.assignee != actor:
        if actor in order.tried and order.assignee != actor:
            return Change(order, (), changed=False)  # it already moved on from this partner
        raise _illegal(order, "decline")
    declined = replace(order, reason=reason)
    moved, events = _offer(declined, candidates, accept_sla_s, now_ms, actor, OrderStatus.DECLINED)
    return Change(moved, _told(moved, events))


def _work(order: Order, actor: str, now_ms: int, sources: set[OrderStatus], target: OrderStatus) -> Change:
    if order.assignee == actor and order.status is target:
        return Change(order, (), changed=False)
    if order.assignee != actor or order.status not in sources:
        raise _illegal(order, "start" if target is OrderStatus.IN_PROGRESS else "complete")
    done = target is OrderStatus.COMPLETED
    moved = _moved(order, target, now_ms, actor, completed_at_ms=now_ms if done else None)
    return Change(moved, _told(moved, []), settle=done and order.paid)


def expire_offer(order: Order, now_ms: int, candidates: list[str], accept_sla_s: int) -> Change:
    """The offered partner let the acceptance SLA pass: withdraw it and offer the next one."""
    if order.status is not OrderStatus.OFFERED or order.offer_deadline_ms is None \
            or order.offer_deadline_ms > now_ms or order.partner_id is None:
        return Change(order, (), changed=False)
    withdrawn = Event("order.withdrawn", f"partner:{order.partner_id}", order.webhook_data())
    moved, events = _offer(order, candidates, accept_sla_s, now_ms, "sla", OrderStatus.EXPIRED)
    return Change(moved, _told(moved, [withdrawn, *events]))


def cancel(order: Order, now_ms: int, by: str) -> Change:
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        return Change(order, (), changed=False)
    if order.status not in CANCELLABLE:
        raise _illegal(order, "cancel")
    events = []
    if order.partner_id is not None:
        events.append(Event("order.cancelled", f"partner:{order.partner_id}", order.webhook_data()))
    moved = _moved(order, OrderStatus.CANCELLED, now_ms, by, offer_deadline_ms=None,
                   refund=RefundStatus.PENDING if order.paid else None)
    return Change(moved, _told(moved, events), refund=order.paid)


def payment_expired(order: Order, now_ms: int) -> Change:
    """Nobody paid within the payment window: the order is cancelled (a payment arriving later is
    refunded, see ``pay``)."""
    waiting = order.status is OrderStatus.PENDING_PAYMENT and not order.paid
    if not waiting or now_ms - order.created_at_ms < PAYMENT_WINDOW_MS:
        return Change(order, (), changed=False)
    moved = _moved(order, OrderStatus.CANCELLED, now_ms, "payment_timeout", reason="payment_timeout")
    return Change(moved, _told(moved, []))


def refund_settled(order: Order, succeeded: bool, now_ms: int) -> Change:
    if order.refund is not RefundStatus.PENDING:
        return Change(order, (), changed=False)
    if not succeeded:
        failed = replace(order, refund=RefundStatus.FAILED, updated_at_ms=now_ms, version=order.version + 1)
        return Change(failed, (Event("order.refund_failed", "staff", failed.webhook_data()),))
    moved = _moved(order, OrderStatus.REFUNDED, now_ms, "provider", refund=RefundStatus.SUCCEEDED)
    return Change(moved, _told(moved, []))


def partner_share(amount_fen: int, commission_pct: int) -> tuple[int, int]:
    """(partner's share, community's commission): the commission is floored, the partner gets the rest."""
    commission = amount_fen * commission_pct // 100
    return amount_fen - commission, commission
