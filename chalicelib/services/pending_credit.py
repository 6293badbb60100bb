"""Credit held for a phone number nobody has bound yet arrives the moment someone binds it."""

from __future__ import annotations

from chalicelib.domain import ledger
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.services.deps import Deps

MAX_CLAIM_ATTEMPTS = 4


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
