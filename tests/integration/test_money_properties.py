"""The money rules under random interleavings (Hypothesis stateful testing).

Real DynamoDB semantics (moto, the production adapters and services), WeChat Pay as an in-memory fake
that can lose answers. Steps: weigh-ins (new, redelivered, reordered), phone bindings, withdrawals (with
and without Idempotency-Keys), the resident confirming or rejecting, callbacks delivered once, twice,
late, forged or never, the 24 h expiry job, and injected faults — DynamoDB throttling and cancelled
transactions before a write, a lost answer after a committed write, WeChat timeouts. After every step:
entries sum to zero, every balance equals its entries, no resident-side account is negative, each
weigh-in moved money at most once, and what the ledger shows paid out is what WeChat shows succeeded.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from chalicelib import bootstrap
from chalicelib.adapters.dynamo.ledger import DynamoLedger
from chalicelib.adapters.dynamo.models import HubItem, OutboxItem, TransferItem, WeighinItem
from chalicelib.domain import ledger
from chalicelib.domain.errors import DomainError
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.withdrawals import WithdrawalStatus
from chalicelib.handlers import device_events as device_events_handler
from chalicelib.ports import BillState
from chalicelib.services import communities, identity, ledger_audit, recycling, withdrawals
from chalicelib.services.dead_letters import Outcome
from chalicelib.services.deps import Deps
from chalicelib.settings import Settings
from localcloud import moto_patches
from localcloud.resources import LocalResources
from tests.conftest import REGION
from tests.support import events
from tests.support.fakes import FakeClock, FakeWeChat
from tests.support.money_fakes import FakeWeChatPay

PHONES = ("13800000001", "13800000002", "13800000003")
OPENIDS = ("o-ann", "o-ben")
BINS = ("bin-a", "bin-b")
_examples = itertools.count()


class DynamoFaults:
    """Fails the next DynamoDB call of a kind: before it is sent, or after it committed (answer lost)."""

    def __init__(self) -> None:
        self.armed: list[tuple[str, str]] = []  # (operation, "before" | "after")
        client = HubItem._get_connection().connection.client
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _take(self, operation: str, when: str) -> bool:
        if (operation, when) in self.armed:
            self.armed.remove((operation, when))
            return True
        return False

    def _before(self, model: Any, **_: Any) -> None:
        if self._take(model.name, "before"):
            code = "ThrottlingException" if model.name != "TransactWriteItems" else "TransactionCanceledException"
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, model.name)

    def _after(self, model: Any, **_: Any) -> None:
        if self._take(model.name, "after"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "answer lost"}}, model.name)


class Money(RuleBasedStateMachine):
    """One community, two bins, three phones, two residents; WeChat Pay faked; DynamoDB real (moto)."""

    deps: Deps

    def __init__(self) -> None:
        super().__init__()
        n = next(_examples)
        self.deps = bootstrap.build(Settings.from_env({**RESOURCES.environment, "AWS_DEFAULT_REGION": REGION}))
        self.clock = FakeClock(time.time_ns() // 1_000_000)
        self.pay = FakeWeChatPay()
        self.deps.clock, self.deps.wechat, self.deps.wechatpay = self.clock, FakeWeChat(), self.pay
        bootstrap.override(self.deps)
        self.faults = FAULTS
        self.faults.armed.clear()
        self.cid = communities.create_community(self.deps, f"Example {n}").community_id
        self.bins = [f"{b}-{n}" for b in BINS]
        for thing in self.bins:
            communities.register_device(self.deps, self.cid, thing, "recycling_bin")
        recycling.set_prices(self.deps, self.cid, {"paper": 80, "metal": 200})
        self.openids = [f"{o}-{n}" for o in OPENIDS]
        self.residents = [identity.login_with_wechat(self.deps, f"sandbox-{o}").resident_id for o in self.openids]
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (thing, event id, payload) ever published
        self.paid_out_before = self._paid_out()

    def teardown(self) -> None:
        """Each example starts from empty tables, so the global checks (a scan) stay small and exact."""
        self.faults.armed.clear()
        bootstrap.override(None)
        for model in (HubItem, OutboxItem):
            with model.batch_write() as batch:
                for item in model.scan():
                    batch.delete(item)

    # ------------------------------------------------------------------------------- helpers
    def _principal(self, who: int) -> Principal:
        return Principal(Role.RESIDENT, self.residents[who])

    def _deliver(self, thing: str, payload: dict[str, Any]) -> None:
        received_at = self.clock.now_ms()
        body = events.envelope(payload, events.topic(self.cid, thing, "weighin"), thing, received_at)
        try:
            result = device_events_handler.handle_record(SQSRecord(events.sqs_record(body)))
        except Exception:
            return
        assert result.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED)

    def _paid_out(self) -> int:
        found = DynamoLedger().balances([ledger.Account(ledger.AccountType.PAID_OUT, str(n))
                                         for n in range(ledger.PAID_OUT_SHARDS)])
        return sum(balance for balance, _ in found.values())

    def _mine(self) -> list[Any]:
        found: list[Any] = []
        for rid in self.residents:
            found.extend(self.deps.withdrawals.list_for_resident(rid, 100, None).items)
        return found

    # --------------------------------------------------------------------------------- rules
    @rule(bin_=st.integers(0, 1), phone=st.sampled_from(PHONES), weight_g=st.integers(1, 4000),
          category=st.sampled_from(["paper", "metal", "plastic"]))
    def weigh(self, bin_: int, phone: str, weight_g: int, category: str) -> None:
        thing = self.bins[bin_]
        payload = {"event_id": f"e{len(self.sent)}", "ts": self.clock.now_ms() - 1000, "category": category,
                   "weight_g": weight_g, "phone": phone}
        self.sent.append((thing, str(payload["event_id"]), payload))
        self._deliver(thing, payload)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """At-least-once and unordered: any earlier message may come again, in any order."""
        thing, _, payload = data.draw(st.sampled_from(self.sent))
        self._deliver(thing, payload)

    @rule(who=st.integers(0, 1), phone=st.sampled_from(PHONES))
    def bind(self, who: int, phone: str) -> None:
        with contextlib.suppress(Exception):  # a phone taken by the other resident, an injected fault
            identity.bind_phone(self.deps, self._principal(who), f"sandbox-phone-{phone}")

    @rule(who=st.integers(0, 1), amount=st.integers(1, 600), key=st.sampled_from([None, "k1", "k2"]))
    def withdraw(self, who: int, amount: int, key: str | None) -> None:
        with contextlib.suppress(Exception):  # refusals, lost answers and injected faults are all allowed
            withdrawals.request_withdrawal(self.deps, self._principal(who), {"amount_fen": amount}, key)

    def _waiting_bills(self) -> list[str]:
        return sorted(b.out_bill_no for b in self.pay.bills.values() if b.state is BillState.WAIT_USER_CONFIRM)

    @precondition(lambda self: self._waiting_bills())
    @rule(data=st.data(), confirm=st.booleans(),
          delivery=st.sampled_from(["once", "twice", "never", "late", "forged_then_real"]))
    def resident_answers(self, data: st.DataObject, confirm: bool, delivery: str) -> None:
        bill = data.draw(st.sampled_from(self._waiting_bills()))
        notice = self.pay.confirm(bill) if confirm else self.pay.reject(bill)
        now_s = self.clock.now_ms() // 1000
        headers, body = self.pay.signed(notice, now_s - (301 if delivery == "late" else 0))
        if delivery == "forged_then_real":
            forged_headers, forged_body = self.pay.forged(notice, now_s)
            self._callback(forged_headers, forged_body, expect_rejected=True)
        times = {"once": 1, "twice": 2, "never": 0, "late": 1, "forged_then_real": 1}[delivery]
        for _ in range(times):
            self._callback(headers, body, expect_rejected=delivery == "late")

    def _callback(self, headers: dict[str, str], body: bytes, *, expect_rejected: bool) -> None:
        before = self._paid_out()
        outcome = "applied"
        try:
            withdrawals.handle_notification(self.deps, headers, body)
        except DomainError:
            outcome = "refused"
        except ClientError:
            outcome = "faulted"  # an injected DynamoDB fault: WeChat will deliver it again
        if expect_rejected:
            assert outcome == "refused", "a forged or stale callback was accepted"
            assert self._paid_out() == before
        else:
            assert outcome != "refused", "a genuine callback was refused"

    @rule(hours=st.sampled_from([0, 1, 25]))
    def expiry_job(self, hours: int) -> None:
        self.clock.advance(hours * 3600 * 1000)
        with contextlib.suppress(ClientError):
            withdrawals.settle_open_withdrawals(self.deps)

    @rule(operation=st.sampled_from(["TransactWriteItems", "BatchGetItem", "GetItem", "UpdateItem"]),
          when=st.sampled_from(["before", "after"]))
    def dynamodb_fault(self, operation: str, when: str) -> None:
        self.faults.armed.append((operation, when))

    @rule(op=st.sampled_from(["create", "query", "cancel"]),
          mode=st.sampled_from(["ambiguous_after_success", "ambiguous_before", "refuse", "down"]))
    def wechatpay_fault(self, op: str, mode: str) -> None:
        self.pay.fail_next(op, mode)  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------- invariants
    @invariant()
    def books_balance(self) -> None:
        armed, self.faults.armed = self.faults.armed, []  # the checks themselves must not be faulted
        try:
            result = ledger_audit.reconcile(self.deps)
            assert result.violations == [], result.violations
            assert result.total_fen == 0
            book = ledger_audit.community_ledger(self.deps, self.cid)
            assert book.invariants_ok, book.violations
            self._each_weighin_moved_money_at_most_once()
            self._paid_out_matches_wechat()
        finally:
            self.faults.armed = armed

    def _each_weighin_moved_money_at_most_once(self) -> None:
        records = [item for item in WeighinItem.scan() if item.community_id == self.cid]
        keys = [(item.thing_name, item.event_id) for item in records]
        assert len(keys) == len(set(keys)), "a weigh-in was recorded twice"
        credits = {item.pk for item in TransferItem.scan()
                   if item.kind == "recycling_credit" and item.pk.split(":", 2)[1] in self.bins}
        paying = {f"XFER#recycling_credit:{t}:{e}" for item in records if item.credit_fen > 0
                  for t, e in [(item.thing_name, item.event_id)]}
        assert credits == paying
        sent = {(t, e) for t, e, _ in self.sent}
        assert set(keys) <= sent

    def _paid_out_matches_wechat(self) -> None:
        by_bill = {w.out_bill_no: w for w in self._mine()}
        paid = self._paid_out() - self.paid_out_before
        settled = 0
        for bill in self.pay.bills.values():
            withdrawal = by_bill.get(bill.out_bill_no)
            assert withdrawal is not None, f"WeChat holds a bill {bill.out_bill_no} the hub does not know"
            assert withdrawal.amount_fen == bill.amount_fen
            if bill.state is BillState.SUCCESS:
                assert withdrawal.status in (WithdrawalStatus.SUCCEEDED, WithdrawalStatus.WAIT_USER_CONFIRM,
                                             WithdrawalStatus.PROCESSING), "money paid by WeChat was returned"
                settled += bill.amount_fen if withdrawal.status is WithdrawalStatus.SUCCEEDED else 0
            if withdrawal.status is WithdrawalStatus.SUCCEEDED:
                assert bill.state is BillState.SUCCESS, "the hub settled a bill WeChat did not pay"
        assert paid == settled <= self.pay.succeeded_total_fen()
        per_out: dict[str, int] = {}
        for w in self._mine():
            per_out.setdefault(w.out_bill_no, 0)
            per_out[w.out_bill_no] += 1
        assert all(n == 1 for n in per_out.values())


RESOURCES: LocalResources
FAULTS: DynamoFaults


EXAMPLES, STEPS = 20, 20


@pytest.fixture
def money_world(moto: LocalResources) -> None:
    global RESOURCES, FAULTS
    moto_patches.install()  # transactions cost O(items touched), as in localcloud (tests: test_moto_patches)
    RESOURCES = moto
    FAULTS = DynamoFaults()


def test_money_rules_hold_under_random_interleavings(money_world: None) -> None:
    examples = itertools.count()
    original_init = Money.__init__

    def counted(self: Money) -> None:
        next(examples)
        original_init(self)

    Money.__init__ = counted  # type: ignore[method-assign]
    try:
        run_state_machine_as_test(Money, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, suppress_health_check=list(HealthCheck)))
    finally:
        Money.__init__ = original_init  # type: ignore[method-assign]
    ran = next(examples)
    print(f"money state machine: {ran} examples of up to {STEPS} steps")
    assert ran >= EXAMPLES
