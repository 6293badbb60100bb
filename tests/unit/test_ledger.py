"""The ledger's rules: transfers are two legs of the same amount; the checks find what is wrong."""

from __future__ import annotations

import pytest

from chalicelib.domain import ledger
from chalicelib.domain.ledger import Account, AccountType, Transfer, TransferKind, check_invariants


def credit(amount: int, key: str = "bin:e1") -> Transfer:
    return Transfer.for_event(TransferKind.RECYCLING_CREDIT, key, ledger.recycling_expense("c1", key),
                              ledger.wallet("r1"), amount, 1)


def test_a_transfer_is_two_legs_that_sum_to_zero() -> None:
    debit, credit_leg = credit(188).entries()
    assert (debit.amount_fen, credit_leg.amount_fen) == (-188, 188)
    assert debit.account.type is AccountType.RECYCLING_EXPENSE and credit_leg.account == ledger.wallet("r1")


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_a_transfer_moves_a_positive_whole_number_of_fen(amount: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        credit(amount)  # type: ignore[arg-type]


def test_the_transfer_id_is_the_business_key() -> None:
    assert credit(1, "bin:e1").transfer_id == credit(2, "bin:e1").transfer_id != credit(1, "bin:e2").transfer_id


def test_expense_shards_are_per_community_and_stable() -> None:
    assert ledger.recycling_expense("c1", "k") == ledger.recycling_expense("c1", "k")
    assert ledger.recycling_expense("c1", "k") in ledger.recycling_expense_shards("c1")
    assert all(a.community_id == "c1" for a in ledger.recycling_expense_shards("c1"))


def test_account_ids_round_trip() -> None:
    for account in (ledger.wallet("r1"), ledger.pending("p#1"), ledger.recycling_expense("c:1", "k")):
        assert Account.parse(account.id) == account


def test_right_books_have_no_violations() -> None:
    t = credit(188)
    balances = {t.debit: -188, t.credit: 188}
    assert check_invariants(balances, t.entries()) == []


def test_each_broken_rule_is_named() -> None:
    t = credit(188)
    rules = {v.rule for v in check_invariants({t.debit: -188, t.credit: 200}, t.entries())}
    assert rules == {"balance_equals_entries"}
    one_leg = [t.entries()[1]]
    rules = {v.rule for v in check_invariants({t.credit: 188}, one_leg)}
    assert rules == {"entries_sum_to_zero", "one_transfer_per_event"}
    overdrawn = Transfer.for_event(TransferKind.PAYOUT_START, "w1", ledger.wallet("r1"), ledger.in_flight("r1"), 5, 1)
    rules = {v.rule for v in check_invariants({overdrawn.debit: -5, overdrawn.credit: 5}, overdrawn.entries())}
    assert rules == {"not_negative"}
