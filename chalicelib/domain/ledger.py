"""The double-entry ledger: every movement of money is one transfer between two accounts.

Balances are signed integers in fen. Money enters the system from a community's recycling expense
account (which goes negative: it is what the community owes out) and leaves it through the paid-out
accounts (money that reached residents' WeChat balances). Every other account belongs to a resident
or a phone and may never go negative. Invariants (checked by tests, by the admin ledger route and by
the reconciliation job): all entries sum to zero; each balance equals the sum of its entries; no
resident-side account is negative; one business event makes at most one transfer (the transfer id is
derived from the business key, and written with a does-not-exist condition).

No account is written by every event platform-wide: expense accounts are per community and sharded,
paid-out accounts are sharded (DESIGN §4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

#: shards of each community's recycling-expense account (spreads a busy community's writes)
EXPENSE_SHARDS = 4
#: shards of the platform's paid-out account
PAID_OUT_SHARDS = 16


class AccountType(StrEnum):
    WALLET = "wallet"  # a resident's spendable balance
    PENDING = "pending"  # credit held for a phone number nobody has bound yet
    IN_FLIGHT = "in_flight"  # a resident's money inside an unfinished WeChat transfer bill
    RECYCLING_EXPENSE = "recycling_expense"  # what a community has paid out for recycling (negative)
    PAID_OUT = "paid_out"  # money that has reached residents' WeChat balances
    ORDER_PAYMENTS = "order_payments"  # what residents paid for orders, per provider (negative: a source)
    ORDER_ESCROW = "order_escrow"  # one order's money between payment and settlement or refund
    PARTNER_PAYABLE = "partner_payable"  # what the hub owes a partner for completed orders
    COMMISSION = "commission"  # a community's share of completed orders
    REFUNDED = "refunded"  # money returned to payers, per provider (a sink)
    PARTNER_PAID = "partner_paid"  # money sent to partners' Stripe accounts (a sink)


@dataclass(frozen=True, order=True)
class Account:
    type: AccountType
    owner: str

    @property
    def id(self) -> str:
        return f"{self.type.value}:{self.owner}"

    @property
    def may_go_negative(self) -> bool:
        return self.type in (AccountType.RECYCLING_EXPENSE, AccountType.ORDER_PAYMENTS)

    @property
    def community_id(self) -> str | None:
        if self.type in (AccountType.RECYCLING_EXPENSE, AccountType.COMMISSION):
            return self.owner.rsplit("#", 1)[0]
        return None

    @classmethod
    def parse(cls, account_id: str) -> Account:
        kind, _, owner = account_id.partition(":")
        return cls(AccountType(kind), owner)


def _shard(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % shards


def wallet(resident_id: str) -> Account:
    return Account(AccountType.WALLET, resident_id)


def in_flight(resident_id: str) -> Account:
    return Account(AccountType.IN_FLIGHT, resident_id)


def pending(phone_key: str) -> Account:
    return Account(AccountType.PENDING, phone_key)


def recycling_expense(community_id: str, business_key: str) -> Account:
    return Account(AccountType.RECYCLING_EXPENSE, f"{community_id}#{_shard(business_key, EXPENSE_SHARDS)}")


def recycling_expense_shards(community_id: str) -> list[Account]:
    return [Account(AccountType.RECYCLING_EXPENSE, f"{community_id}#{n}") for n in range(EXPENSE_SHARDS)]


def paid_out(business_key: str) -> Account:
    return Account(AccountType.PAID_OUT, str(_shard(business_key, PAID_OUT_SHARDS)))


def order_payments(provider: str, business_key: str) -> Account:
    return Account(AccountType.ORDER_PAYMENTS, f"{provider}#{_shard(business_key, PAID_OUT_SHARDS)}")


def order_escrow(order_id: str) -> Account:
    return Account(AccountType.ORDER_ESCROW, order_id)


def partner_payable(partner_id: str) -> Account:
    return Account(AccountType.PARTNER_PAYABLE, partner_id)


def commission(community_id: str, business_key: str) -> Account:
    return Account(AccountType.COMMISSION, f"{community_id}#{_shard(business_key, EXPENSE_SHARDS)}")


def refunded(provider: str, business_key: str) -> Account:
    return Account(AccountType.REFUNDED, f"{provider}#{_shard(business_key, PAID_OUT_SHARDS)}")


def partner_paid(business_key: str) -> Account:
    return Account(AccountType.PARTNER_PAID, str(_shard(business_key, PAID_OUT_SHARDS)))


class TransferKind(StrEnum):
    RECYCLING_CREDIT = "recycling_credit"  # expense → wallet or pending (a weigh-in)
    PENDING_CLAIM = "pending_claim"  # pending → wallet (the phone was bound)
    PAYOUT_START = "payout_start"  # wallet → in flight (a withdrawal's bill is being created)
    PAYOUT_SETTLE = "payout_settle"  # in flight → paid out (WeChat says SUCCESS)
    PAYOUT_RETURN = "payout_return"  # in flight → wallet (the bill failed, was rejected or expired)
    ORDER_PAYMENT = "order_payment"  # order payments → escrow (the provider says it was paid)
    ORDER_SETTLE = "order_settle"  # escrow → partner payable (the partner's share of a completed order)
    ORDER_COMMISSION = "order_commission"  # escrow → commission (the community's share)
    ORDER_REFUND = "order_refund"  # escrow → refunded (a cancelled paid order's money went back)
    PARTNER_PAYOUT = "partner_payout"  # partner payable → partner paid (a Stripe Connect transfer)


@dataclass(frozen=True)
class Entry:
    """One leg of a transfer as one account sees it: ``amount_fen`` is signed."""

    account: Account
    transfer_id: str
    kind: TransferKind
    amount_fen: int
    at_ms: int
    memo: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transfer:
    """Money moves from ``debit`` (balance falls) to ``credit`` (balance rises)."""

    transfer_id: str
    kind: TransferKind
    debit: Account
    credit: Account
    amount_fen: int
    at_ms: int
    memo: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.amount_fen, int) or isinstance(self.amount_fen, bool) or self.amount_fen <= 0:
            raise ValueError(f"a transfer moves a positive integer number of fen, not {self.amount_fen!r}")
        if self.debit == self.credit:
            raise ValueError("a transfer needs two different accounts")

    @classmethod
    def for_event(cls, kind: TransferKind, business_key: str, debit: Account, credit: Account,
                  amount_fen: int, at_ms: int, memo: Mapping[str, str] | None = None) -> Transfer:
        """The transfer a business event makes; its id is the event's key, so it can happen once."""
        return cls(transfer_id(kind, business_key), kind, debit, credit, amount_fen, at_ms, dict(memo or {}))

    def entries(self) -> tuple[Entry, Entry]:
        return (Entry(self.debit, self.transfer_id, self.kind, -self.amount_fen, self.at_ms, self.memo),
                Entry(self.credit, self.transfer_id, self.kind, self.amount_fen, self.at_ms, self.memo))


def transfer_id(kind: TransferKind, business_key: str) -> str:
    return f"{kind.value}:{business_key}"


@dataclass(frozen=True)
class Violation:
    rule: str
    account: str | None
    detail: str


def check_invariants(balances: Mapping[Account, int], entries: Iterable[Entry],
                     *, closed: bool = True) -> list[Violation]:
    """What is wrong with these balances and entries (empty when the books are right).

    ``closed`` means ``entries`` are all the entries of a closed set of accounts (the whole ledger), so
    they must sum to zero; for a slice of the ledger (one community's accounts) only the per-account
    rules apply.
    """
    sums: dict[Account, int] = {}
    transfers: dict[str, int] = {}
    total = 0
    for entry in entries:
        sums[entry.account] = sums.get(entry.account, 0) + entry.amount_fen
        transfers[entry.transfer_id] = transfers.get(entry.transfer_id, 0) + 1
        total += entry.amount_fen
    violations = []
    if closed and total != 0:
        violations.append(Violation("entries_sum_to_zero", None, f"entries sum to {total} fen"))
    for account in sorted(set(balances) | set(sums)):
        balance, summed = balances.get(account, 0), sums.get(account, 0)
        if balance != summed:
            violations.append(Violation("balance_equals_entries", account.id,
                                        f"balance {balance} fen but entries sum to {summed} fen"))
        if balance < 0 and not account.may_go_negative:
            violations.append(Violation("not_negative", account.id, f"balance {balance} fen"))
    if closed:
        for tid, legs in sorted(transfers.items()):
            if legs != 2:
                violations.append(Violation("one_transfer_per_event", None, f"transfer {tid} has {legs} entries"))
    return violations
