"""A resident takes money out of the wallet into their WeChat balance (商家转账, user-confirm mode).

Life of a withdrawal: ``processing`` (money moved wallet → in flight, the WeChat bill being created)
→ ``wait_user_confirm`` (the bill exists; the mini-program shows ``wx.requestMerchantTransfer``) →
``succeeded`` (money moves in flight → paid out) or ``failed`` / ``cancelled`` (in flight → wallet).
A bill nobody confirms within 24 h is cancelled and the money returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import BadInput, DomainError

#: WeChat's floor for one transfer (0.10 CNY)
MIN_WITHDRAWAL_FEN = 10
#: from 2,000 CNY WeChat requires the payee's real name, which the hub does not hold
MAX_WITHDRAWAL_FEN = 199_999
#: a bill the resident has not confirmed by then is cancelled and the money returns
CONFIRM_WINDOW_MS = 24 * 3600 * 1000
TRANSFER_REMARK = "邻里回收奖励提现"


class WithdrawalStatus(StrEnum):
    PROCESSING = "processing"
    WAIT_USER_CONFIRM = "wait_user_confirm"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (WithdrawalStatus.PROCESSING, WithdrawalStatus.WAIT_USER_CONFIRM)


class WithdrawalTooSmall(DomainError):
    code = "amount_below_minimum"


class WithdrawalTooLarge(DomainError):
    code = "amount_above_maximum"


@dataclass(frozen=True)
class Withdrawal:
    withdrawal_id: str
    resident_id: str
    openid: str
    amount_fen: int
    status: WithdrawalStatus
    out_bill_no: str
    created_at_ms: int
    updated_at_ms: int
    package_info: str | None = None
    transfer_bill_no: str | None = None
    fail_reason: str | None = None
    #: the community the resident lived in when they asked (its staff see the withdrawal while it is open)
    community_id: str | None = None

    def ended(self, status: WithdrawalStatus, now_ms: int, fail_reason: str | None = None) -> Withdrawal:
        return replace(self, status=status, updated_at_ms=now_ms, fail_reason=fail_reason)


def out_bill_no(withdrawal_id: str) -> str:
    """WeChat wants 5–32 letters and digits, unique per merchant: ``LLW`` + the id's unique part."""
    return "LLW" + withdrawal_id.split("_", 1)[-1]


def parse_amount(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise BadInput("amount_fen must be an integer number of fen", code="invalid_amount")
    if raw < MIN_WITHDRAWAL_FEN:
        raise WithdrawalTooSmall(f"the smallest withdrawal is {MIN_WITHDRAWAL_FEN} fen")
    if raw > MAX_WITHDRAWAL_FEN:
        raise WithdrawalTooLarge(f"the largest withdrawal is {MAX_WITHDRAWAL_FEN} fen")
    return raw
