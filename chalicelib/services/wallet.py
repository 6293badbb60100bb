"""A resident's wallet: balance, entries, weigh-ins, and credit held for their phone until they bind it."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import ledger
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.identity import Principal
from chalicelib.domain.recycling import WeighinRecord
from chalicelib.ports import Page
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident

MAX_CLAIM_ATTEMPTS = 4


@dataclass(frozen=True)
class WalletView:
    balance_fen: int
    in_flight_fen: int
    currency: str = "CNY"


def wallet_of(deps: Deps, principal: Principal) -> WalletView:
    rid = principal.subject
    found = deps.ledger.balances([ledger.wallet(rid), ledger.in_flight(rid)])
    return WalletView(balance_fen=found[ledger.wallet(rid)][0], in_flight_fen=found[ledger.in_flight(rid)][0])


def entries_of(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[ledger.Entry]:
    return deps.ledger.entries(ledger.wallet(principal.subject), limit, cursor)


def weighins_of(deps: Deps, principal: Principal, limit: int, cursor: str | None) -> Page[WeighinRecord]:
    """The weigh-ins of the phone the resident has bound (including those credited before binding)."""
    resident = current_resident(deps, principal)
    if not resident.phone_key:
        return Page(items=[])
    return deps.recycling.weighins_of_phone(resident.phone_key, limit, cursor)


def claim_pending(deps: Deps, resident_id: str, phone_key: str) -> int:
    """Move everything held for ``phone_key`` into the resident's wallet; the fen moved.

    Runs after the phone is bound. From then on no credit can land in the pending account (a pending
    credit's transaction requires the phone to be unbound), so the balance read here is final; the
    claim's business key carries the account's version, so re-running it never moves money twice.
    """
    account = ledger.pending(phone_key)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        balance, version = deps.ledger.balances([account])[account]
        if balance <= 0:
            return 0
        claim = ledger.Transfer.for_event(
            ledger.TransferKind.PENDING_CLAIM, f"{phone_key}:v{version}", account, ledger.wallet(resident_id),
            balance, deps.clock.now_ms(), memo={"resident_id": resident_id})
        try:
            if deps.ledger.transfer(claim):
                return balance
        except InsufficientBalance:
            continue
    return 0
