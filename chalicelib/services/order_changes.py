"""Applying an order decision: read, decide (domain), write the change with its money and events in one
transaction conditional on the version read — and on a lost race, read and decide again.

Money follows the order (DESIGN §4, one transfer per business event, ids from the order id):
payment → ``order_payments`` to the order's escrow; completion → escrow to the partner's payable and the
community's commission; a refund → escrow to ``refunded``. Events land in the outbox with a key made of
the order id, its new version and the audience, so a repeated write can never duplicate one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from chalicelib.domain import ledger
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.orders import Change, Order, partner_share
from chalicelib.ports import OrderWrite, OutboxEvent, SaveOutcome
from chalicelib.services.deps import Deps
from chalicelib.services.offer_cache import OfferTerms

MAX_RACES = 5
#: a service deleted since the order was placed keeps being offered with the catalog's default SLA
DEFAULT_ACCEPT_SLA_S = 600


def offer_terms(deps: Deps, community_id: str) -> OfferTerms:
    now = deps.clock.now_ms()
    terms = deps.offer_cache.get(community_id, now)
    if terms is None:
        terms = OfferTerms(services={s.service_id: s for s in deps.catalog.list_services(community_id)},
                           partners=tuple(deps.partners.list_for_community(community_id)))
        deps.offer_cache.put(community_id, terms, now)
    return terms


def candidates(deps: Deps, order: Order) -> list[str]:
    """The partners that may be offered this order: active, covering the service, oldest first."""
    return offer_terms(deps, order.community_id).candidates(order.service_id)


def accept_sla_s(deps: Deps, order: Order) -> int:
    service = offer_terms(deps, order.community_id).services.get(order.service_id)
    return service.accept_sla_s if service is not None else DEFAULT_ACCEPT_SLA_S


def transfers_for(deps: Deps, before: Order | None, change: Change) -> list[ledger.Transfer]:
    order, now = change.order, change.order.updated_at_ms
    moves: list[ledger.Transfer] = []
    escrow = ledger.order_escrow(order.order_id)
    memo = {"order_id": order.order_id, "community_id": order.community_id}
    if order.paid and (before is None or not before.paid) and order.amount_fen > 0:
        provider = order.provider.value if order.provider else "none"
        moves.append(ledger.Transfer.for_event(
            ledger.TransferKind.ORDER_PAYMENT, order.order_id, ledger.order_payments(provider, order.order_id),
            escrow, order.amount_fen, now, memo))
    if change.settle and order.amount_fen > 0:
        share, _ = settlement(deps, order)
        if share:
            moves.append(ledger.Transfer.for_event(
                ledger.TransferKind.ORDER_SETTLE, order.order_id, escrow,
                ledger.partner_payable(order.partner_id or ""), share, now, memo))
        else:
            moves.append(commission_transfer(order, order.amount_fen, now))
    return moves


def settlement(deps: Deps, order: Order) -> tuple[int, int]:
    """(partner's share, community's commission) of a completed order; staff work is all commission."""
    if order.partner_id is None:
        return 0, order.amount_fen
    return partner_share(order.amount_fen, deps.communities.terms(order.community_id).settings.commission_pct)


def commission_transfer(order: Order, amount_fen: int, at_ms: int) -> ledger.Transfer:
    return ledger.Transfer.for_event(
        ledger.TransferKind.ORDER_COMMISSION, order.order_id, ledger.order_escrow(order.order_id),
        ledger.commission(order.community_id, order.order_id), amount_fen, at_ms,
        {"order_id": order.order_id, "community_id": order.community_id})


def refund_transfer(order: Order) -> ledger.Transfer:
    provider = order.provider.value if order.provider else "none"
    return ledger.Transfer.for_event(
        ledger.TransferKind.ORDER_REFUND, order.order_id, ledger.order_escrow(order.order_id),
        ledger.refunded(provider, order.order_id), order.amount_fen, order.updated_at_ms,
        {"order_id": order.order_id, "community_id": order.community_id})


def message_id(event_type: str, key: str) -> str:
    """The webhook-id: derived from the outbox key, so it is the same on every retry and replay."""
    return "msg_" + hashlib.sha256(f"{event_type}#{key}".encode()).hexdigest()[:26]


def outbox_events(change: Change, share_fen: int = 0, commission_fen: int = 0) -> list[OutboxEvent]:
    order = change.order
    events = []
    for e in change.events:
        key = f"{order.order_id}#{order.version}#{e.audience}"
        events.append(OutboxEvent(type=e.type, community_id=order.community_id, key=key,
                                  data={**e.data, "audience": e.audience, "message_id": message_id(e.type, key)}))
    if share_fen > 0 and order.partner_id:
        # DynamoDB allows one operation per item in a transaction, so the commission leaves the escrow
        # in a second step (idempotent by the order id) when this event is handled
        events.append(OutboxEvent("order.settled", order.community_id, f"{order.order_id}#settle",
                                  {"order_id": order.order_id, "partner_id": order.partner_id, "share_fen": share_fen,
                                   "commission_fen": commission_fen, "audience": "money"}))
    if change.refund:
        events.append(OutboxEvent("order.refund_requested", order.community_id, f"{order.order_id}#refund",
                                  {"order_id": order.order_id, "audience": "money"}))
    return events


def write_for(deps: Deps, before: Order | None, change: Change, *, marker: str | None = None,
              extra: list[ledger.Transfer] | None = None, idempotency: tuple[str, str] | None = None) -> OrderWrite:
    order = change.order
    new_partner = order.partner_id if order.partner_id and (before is None or order.partner_id not in before.tried) \
        else None
    transfers = [*transfers_for(deps, before, change), *(extra or [])]
    share = sum(t.amount_fen for t in transfers if t.kind is ledger.TransferKind.ORDER_SETTLE)
    commission = change.order.amount_fen - share if share else 0
    return OrderWrite(order=order, expected_version=None if before is None else before.version,
                      transfers=transfers, events=outbox_events(change, share, commission), link_partner=new_partner,
                      applied_marker=marker, idempotency=idempotency)


def apply(deps: Deps, order_id: str, decide: Callable[[Order], Change], *, marker: str | None = None,
          extra: Callable[[Order], list[ledger.Transfer]] | None = None, first: Order | None = None) -> Order:
    """Read the order (``first``: already read by the caller), decide, write — and read again on a lost
    race. ``marker`` makes the write at-most-once per callback / event id across later changes."""
    for attempt in range(MAX_RACES):
        before = first if attempt == 0 and first is not None else deps.orders.get(order_id)
        if before is None:
            raise NotFound("order not found", code="order_not_found")
        change = decide(before)
        if not change.changed:
            return before
        outcome = deps.orders.save(write_for(deps, before, change, marker=marker,
                                             extra=extra(change.order) if extra else None))
        if outcome is SaveOutcome.SAVED:
            return change.order
        if outcome is SaveOutcome.ALREADY_APPLIED:
            return deps.orders.get(order_id) or before
    raise Conflict("the order is changing too fast; try again", code="order_busy")
