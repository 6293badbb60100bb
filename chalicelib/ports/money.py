"""Recycling money: the ledger, weigh-ins, WeChat Pay transfer bills and withdrawals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device
from chalicelib.domain.ledger import Account, Entry, Transfer
from chalicelib.domain.recycling import CommunityTerms, WeighinRecord
from chalicelib.domain.withdrawals import Withdrawal
from chalicelib.ports.core import (
    OutboxEvent,
    Page,
)


class BillState(StrEnum):
    """WeChat Pay transfer-bill states (商家转账 v3), as WeChat spells them."""

    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
    TRANSFERING = "TRANSFERING"  # sic: WeChat's spelling
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class TransferBill:
    out_bill_no: str
    state: BillState
    amount_fen: int
    transfer_bill_no: str | None = None
    package_info: str | None = None
    fail_reason: str | None = None


@dataclass(frozen=True)
class PayNotification:
    """A verified, decrypted WeChat Pay callback."""

    notification_id: str
    event_type: str
    resource: Mapping[str, Any]


class WeChatPay(Protocol):
    """WeChat Pay v3 for the merchant: transfer bills (resident payouts) and their callbacks.

    Errors: ``PayoutAmbiguous`` when WeChat's answer was lost (timeout, connection reset, 5xx, 429)
    and the bill may or may not exist — resolve by querying, never by creating a second bill;
    ``PayoutRefused`` for a definite 4xx refusal (no bill was created).
    """

    def create_transfer_bill(self, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill: ...

    def query_transfer_bill(self, out_bill_no: str) -> TransferBill | None:
        """The bill, or None when WeChat says it does not exist (NOT_FOUND)."""

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBill: ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes, now_s: int) -> PayNotification:
        """Check serial, signature (before parsing) and timestamp (±300 s), then decrypt the resource.

        Raises ``CallbackRejected`` for anything forged, tampered, stale or malformed.
        """


class Ledger(Protocol):
    def transfer(self, transfer: Transfer) -> bool:
        """Move money; False when this business event already did. Raises InsufficientBalance."""

    def balances(self, accounts: Sequence[Account]) -> dict[Account, tuple[int, int]]:
        """(balance, version) per account, in one read."""

    def entries(self, account: Account, limit: int, cursor: str | None) -> Page[Entry]: ...

    def snapshot(self, account: Account) -> tuple[int, list[Entry]]: ...

    def accounts(self) -> Iterator[Account]: ...


@dataclass(frozen=True)
class WeighinContext:
    """Everything crediting a weigh-in needs to know, read in one request."""

    device: Device | None
    seen: bool
    owner_resident_id: str | None  # who has bound the phone, if anyone
    credited_today_fen: int
    terms: CommunityTerms | None  # None unless asked for (the container's cache was cold)


@dataclass(frozen=True)
class DailyCap:
    community_id: str
    phone_key: str
    day: str
    cap_fen: int


class WeighinOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CAP_REACHED = "cap_reached"  # a concurrent credit used up the day's cap
    OWNER_CHANGED = "owner_changed"  # the phone was bound (or rebound) meanwhile


class RecyclingBook(Protocol):
    def load_weighin(self, thing_name: str, event_id: str, cap: DailyCap, with_terms: bool) -> WeighinContext: ...

    def record_weighin(self, message: DeviceMessage, advance_last_seen: bool, record: WeighinRecord,
                       transfer: Transfer | None, cap: DailyCap, event: OutboxEvent | None) -> WeighinOutcome:
        """Seen marker, last_seen, the transfer, the weigh-in, the cap counter and the outbox event:
        one transaction, conditional on the phone still having the owner the credit was computed for."""

    def weighins_of_phone(self, phone_key: str, limit: int, cursor: str | None) -> Page[WeighinRecord]: ...

    def weighins_of_day(self, community_id: str, day: str, limit: int, cursor: str | None) -> Page[WeighinRecord]: ...


class Withdrawals(Protocol):
    def start(self, withdrawal: Withdrawal, transfer: Transfer, idempotency: tuple[str, str] | None) -> None:
        """Create the withdrawal and move its money wallet → in flight, atomically.

        ``idempotency`` is (key, request hash). Raises InsufficientBalance, or IdempotencyReused.
        """

    def get(self, withdrawal_id: str) -> Withdrawal | None: ...

    def record_bill(self, withdrawal_id: str, bill: TransferBill, now_ms: int) -> Withdrawal | None:
        """Store the bill's package_info while the withdrawal waits for the resident; None if it already ended."""

    def finish(self, withdrawal: Withdrawal, transfer: Transfer, notification_id: str | None) -> bool:
        """End an open withdrawal (status in ``withdrawal``) and move its money; False if it had ended
        already or this notification was applied before — nothing is written then."""

    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]: ...

    def list_open(self, created_before_ms: int, limit: int) -> list[Withdrawal]: ...

    def list_open_in_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]:
        """The community's open withdrawals (``community_id`` set when they started), newest first."""
