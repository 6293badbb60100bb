"""Checking the books: a community's live ledger view, and the scheduled reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain import ledger
from chalicelib.domain.rejects import Reject, RejectReason
from chalicelib.services.deps import Deps

#: reject records for accounts that belong to no community (wallets, in flight, pending, paid out)
LEDGER_BUCKET = "_ledger"


@dataclass(frozen=True)
class CommunityLedger:
    community_id: str
    totals: dict[str, int]
    violations: list[ledger.Violation]

    @property
    def invariants_ok(self) -> bool:
        return not self.violations


def community_ledger(deps: Deps, community_id: str) -> CommunityLedger:
    """Totals of the community's recycling money, with a live check of its accounts.

    Reads every entry of the community's expense accounts (each credit's counterparty tells whether
    it reached a wallet or is held for a phone), and checks each balance against its entries.
    """
    balances: dict[ledger.Account, int] = {}
    entries: list[ledger.Entry] = []
    for account in ledger.recycling_expense_shards(community_id):
        balance, account_entries = deps.ledger.snapshot(account)
        balances[account] = balance
        entries.extend(account_entries)
    to_wallets = held = 0
    for entry in entries:
        counterparty = ledger.Account.parse(entry.memo["counterparty"])
        if counterparty.type is ledger.AccountType.PENDING:
            held -= entry.amount_fen
        else:
            to_wallets -= entry.amount_fen
    expense = sum(balances.values())
    violations = ledger.check_invariants(balances, entries, closed=False)
    if expense + to_wallets + held != 0:
        violations.append(ledger.Violation("credits_match_expense", None,
                                           f"expense {expense} fen vs credits {to_wallets + held} fen"))
    totals = {
        ledger.AccountType.RECYCLING_EXPENSE.value: expense,
        "credited_to_wallets": to_wallets,
        "held_for_unbound_phones": held,
        "credits": len(entries),
    }
    return CommunityLedger(community_id, totals, violations)


@dataclass
class Reconciliation:
    accounts: int = 0
    entries: int = 0
    total_fen: int = 0
    violations: list[ledger.Violation] = field(default_factory=list)


def reconcile(deps: Deps) -> Reconciliation:
    """Recompute every balance from its entries; each mismatch becomes a reject record staff see."""
    result = Reconciliation()
    balances: dict[ledger.Account, int] = {}
    entries: list[ledger.Entry] = []
    for account in deps.ledger.accounts():
        balance, account_entries = deps.ledger.snapshot(account)
        balances[account] = balance
        entries.extend(account_entries)
    result.accounts = len(balances)
    result.entries = len(entries)
    result.total_fen = sum(balances.values())
    result.violations = ledger.check_invariants(balances, entries, closed=True)
    now = deps.clock.now_ms()
    for violation in result.violations:
        community = LEDGER_BUCKET
        if violation.account:
            community = ledger.Account.parse(violation.account).community_id or LEDGER_BUCKET
        deps.rejects.add(Reject(
            community_id=community, thing_name="", kind="ledger", reason=RejectReason.LEDGER_MISMATCH,
            detail=f"{violation.rule}: {violation.account or 'ledger'}: {violation.detail}",
            received_at_ms=now, payload="", topic="", client_id=None, event_id=None))
    return result
