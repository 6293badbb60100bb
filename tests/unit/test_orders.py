"""The order state machine: every legal step, every illegal one (409 with the current state), and the
repeats that at-least-once inputs bring (no-ops, never errors, never a second payment or settlement)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.domain import orders as rules
from chalicelib.domain.catalog import FulfilledBy, define_service
from chalicelib.domain.errors import BadInput, Forbidden, IllegalTransition
from chalicelib.domain.orders import Order, OrderStatus, Provider, RefundStatus

T0 = 1_767_225_600_000
SLA = 600
PARTNERS = ["p_clean1", "p_clean2"]


def new_order(amount_fen: int = 5000, fulfilled_by: str = "partner") -> Order:
    return Order(order_id="o_0001", community_id="c_1", resident_id="r_1", service_id="cleaning",
                 service_name="一小时保洁", building="3", room="502", note="", amount_fen=amount_fen,
                 fulfilled_by=fulfilled_by, status=OrderStatus.PENDING_PAYMENT, created_at_ms=T0, updated_at_ms=T0,
                 provider=Provider.WECHATPAY if amount_fen else None,
                 out_trade_no=rules.out_trade_no_for("o_0001") if amount_fen else None)


def paid_order(candidates: list[str] | None = None) -> Order:
    return rules.pay(new_order(), "wx-txn-1", 5000, PARTNERS if candidates is None else candidates, SLA, T0 + 1).order


def types(change: rules.Change) -> list[tuple[str, str]]:
    return [(e.type, e.audience) for e in change.events]


def test_a_priced_order_waits_for_payment_then_is_offered_to_the_first_partner() -> None:
    order = new_order()
    assert rules.open_order(order, PARTNERS, SLA, T0).order.status is OrderStatus.PENDING_PAYMENT
    change = rules.pay(order, "wx-txn-1", 5000, PARTNERS, SLA, T0 + 1000)
    assert change.order.status is OrderStatus.OFFERED
    assert change.order.assignee == "p_clean1" and change.order.offer_deadline_ms == T0 + 1000 + SLA * 1000
    assert change.order.paid and change.order.payment_ref == "wx-txn-1"
    assert types(change) == [("order.offered", "partner:p_clean1"), ("order.updated", "resident")]
    assert change.events[0].data == {"order_id": "o_0001", "service_id": "cleaning", "community_id": "c_1",
                                      "building": "3", "room": "502", "note": "", "amount_fen": 5000}


def test_a_second_payment_callback_changes_nothing_and_a_wrong_amount_is_refused() -> None:
    order = paid_order()
    assert not rules.pay(order, "wx-txn-1", 5000, PARTNERS, SLA, T0 + 5).changed
    with pytest.raises(BadInput):
        rules.pay(new_order(), "wx-txn-1", 4999, PARTNERS, SLA, T0)


def test_the_happy_path_accept_start_complete_settles_once() -> None:
    order = paid_order()
    accepted = rules.partner_event(order, "p_clean1", "accept", T0 + 2, PARTNERS, SLA, eta_minutes=30).order
    assert accepted.status is OrderStatus.ACCEPTED and accepted.eta_minutes == 30
    started = rules.partner_event(accepted, "p_clean1", "start", T0 + 3, PARTNERS, SLA).order
    done = rules.partner_event(started, "p_clean1", "complete", T0 + 4, PARTNERS, SLA)
    assert done.order.status is OrderStatus.COMPLETED and done.settle
    again = rules.partner_event(done.order, "p_clean1", "complete", T0 + 5, PARTNERS, SLA)
    assert not again.changed and not again.settle
    assert [h[0] for h in done.order.history] == ["offered", "accepted", "in_progress", "completed"]


@pytest.mark.parametrize("kind", ["start", "complete"])
def test_working_before_accepting_is_409_with_the_current_state(kind: str) -> None:
    with pytest.raises(IllegalTransition) as refused:
        rules.partner_event(paid_order(), "p_clean1", kind, T0 + 2, PARTNERS, SLA)
    assert refused.value.current == "offered" and refused.value.kind == "conflict"


def test_a_partner_not_offered_the_order_cannot_touch_it() -> None:
    with pytest.raises(Forbidden):
        rules.partner_event(paid_order(), "p_stranger", "accept", T0 + 2, PARTNERS, SLA)


def test_decline_offers_the_next_partner_and_then_leaves_it_to_staff() -> None:
    first = rules.partner_event(paid_order(), "p_clean1", "decline", T0 + 2, PARTNERS, SLA, reason="busy")
    assert first.order.status is OrderStatus.OFFERED and first.order.assignee == "p_clean2"
    assert types(first)[0] == ("order.offered", "partner:p_clean2")
    second = rules.partner_event(first.order, "p_clean2", "decline", T0 + 3, PARTNERS, SLA)
    assert second.order.status is OrderStatus.DECLINED and second.order.assignee is None
    assert ("order.escalated", "staff") in types(second) and ("order.updated", "resident") in types(second)
    # a repeated decline from the first partner is a no-op; its accept now is too late
    assert not rules.partner_event(second.order, "p_clean1", "decline", T0 + 4, PARTNERS, SLA).changed
    with pytest.raises(IllegalTransition):
        rules.partner_event(second.order, "p_clean1", "accept", T0 + 4, PARTNERS, SLA)
    taken = rules.partner_event(second.order, rules.STAFF, "accept", T0 + 5, PARTNERS, SLA)
    assert taken.order.status is OrderStatus.ACCEPTED and taken.order.assignee == rules.STAFF


def test_an_offer_past_its_sla_is_withdrawn_and_offered_on() -> None:
    order = paid_order()
    assert not rules.expire_offer(order, order.offer_deadline_ms - 1, PARTNERS, SLA).changed  # type: ignore[operator]
    change = rules.expire_offer(order, order.offer_deadline_ms or 0, PARTNERS, SLA)
    assert change.order.assignee == "p_clean2"
    assert types(change)[:2] == [("order.withdrawn", "partner:p_clean1"), ("order.offered", "partner:p_clean2")]
    last = rules.expire_offer(change.order, change.order.offer_deadline_ms or 0, PARTNERS, SLA)
    assert last.order.status is OrderStatus.EXPIRED


def test_cancel_before_start_refunds_a_paid_order_and_tells_the_partner() -> None:
    accepted = rules.partner_event(paid_order(), "p_clean1", "accept", T0 + 2, PARTNERS, SLA).order
    change = rules.cancel(accepted, T0 + 3, "resident")
    assert change.order.status is OrderStatus.CANCELLED and change.refund
    assert change.order.refund is RefundStatus.PENDING
    assert types(change)[0] == ("order.cancelled", "partner:p_clean1")
    assert not rules.cancel(change.order, T0 + 4, "resident").changed
    refunded = rules.refund_settled(change.order, True, T0 + 5)
    assert refunded.order.status is OrderStatus.REFUNDED
    assert not rules.refund_settled(refunded.order, True, T0 + 6).changed


def test_cancel_after_work_started_is_409() -> None:
    started = rules.partner_event(rules.partner_event(paid_order(), "p_clean1", "accept", T0 + 2, PARTNERS, SLA)
                                  .order, "p_clean1", "start", T0 + 3, PARTNERS, SLA).order
    with pytest.raises(IllegalTransition) as refused:
        rules.cancel(started, T0 + 4, "resident")
    assert refused.value.current == "in_progress"


def test_an_unpaid_cancel_refunds_nothing_and_money_arriving_later_is_refunded() -> None:
    cancelled = rules.cancel(new_order(), T0 + 1, "resident")
    assert not cancelled.refund and cancelled.order.refund is None
    late = rules.pay(cancelled.order, "wx-txn-9", 5000, PARTNERS, SLA, T0 + 2)
    assert late.refund and late.order.status is OrderStatus.CANCELLED and late.order.refund is RefundStatus.PENDING


def test_free_staff_services_go_straight_to_the_staff_work_list() -> None:
    change = rules.open_order(new_order(amount_fen=0, fulfilled_by="staff"), [], SLA, T0)
    assert change.order.status is OrderStatus.OFFERED and change.order.assignee == rules.STAFF
    assert types(change)[0] == ("order.staff_work", "staff")
    done = rules.partner_event(rules.partner_event(change.order, rules.STAFF, "accept", T0 + 1, [], SLA).order,
                               rules.STAFF, "complete", T0 + 2, [], SLA)
    assert done.order.status is OrderStatus.COMPLETED and not done.settle  # nothing was paid


def test_the_partner_share_floors_the_commission() -> None:
    assert rules.partner_share(5000, 10) == (4500, 500)
    assert rules.partner_share(999, 15) == (850, 149)
    assert rules.partner_share(1, 50) == (1, 0)


def test_out_trade_no_round_trips_to_the_order_id() -> None:
    number = rules.out_trade_no_for("o_0192abcdef0123456789ab")
    assert 6 <= len(number) <= 32 and rules.order_id_for(number) == "o_0192abcdef0123456789ab"
    assert rules.order_id_for("LLW123") is None


@pytest.mark.parametrize("raw", [
    {"name": "保洁", "price_fen": 12.5, "fulfilled_by": "partner"},
    {"name": "保洁", "price_fen": -1, "fulfilled_by": "partner"},
    {"name": "保洁", "price_fen": True, "fulfilled_by": "partner"},
    {"name": "", "price_fen": 100, "fulfilled_by": "partner"},
    {"name": "保洁", "price_fen": 100, "fulfilled_by": "robot"},
    {"name": "保洁", "price_fen": 100, "fulfilled_by": "partner", "accept_sla_s": 5},
])
def test_service_definitions_are_checked_strictly(raw: dict[str, object]) -> None:
    with pytest.raises(BadInput):
        define_service("c_1", "cleaning", raw)


def test_a_service_definition_with_defaults() -> None:
    service = define_service("c_1", "laundry-rescue", {"name": "雨天收衣", "price_fen": 0, "fulfilled_by": "staff"})
    assert service.is_free and service.fulfilled_by is FulfilledBy.STAFF and service.accept_sla_s == 600
    assert replace(service, active=False).active is False


def test_an_order_unpaid_after_the_payment_window_is_cancelled() -> None:
    order = new_order()
    assert not rules.payment_expired(order, T0 + rules.PAYMENT_WINDOW_MS - 1).changed
    change = rules.payment_expired(order, T0 + rules.PAYMENT_WINDOW_MS)
    assert change.order.status is OrderStatus.CANCELLED and change.order.reason == "payment_timeout"
    assert not change.refund and ("order.updated", "resident") in types(change)
    assert not rules.payment_expired(paid_order(), T0 + 10 * rules.PAYMENT_WINDOW_MS).changed
