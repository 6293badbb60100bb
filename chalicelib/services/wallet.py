"""A resident's wallet as they see it: balance, entries, weigh-ins."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import ledger
from chalicelib.domain.identity import Principal
from chalicelib.domain.recycling import WeighinRecord
from chalicelib.ports import Page
from chalicelib.services.deps import Deps
from chalicelib.services.identity import current_resident


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
