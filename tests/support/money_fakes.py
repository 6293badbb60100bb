"""In-memory fakes of the money ports: ledger, recycling book, withdrawals and the WeChat Pay merchant.

Each fake mirrors its DynamoDB adapter (chalicelib/adapters/dynamo/ledger.py, recycling.py,
withdrawals.py): what a DynamoDB transaction writes, a fake writes under one lock, all or nothing, after
evaluating every condition the adapter's transaction carries — and it maps failed conditions to outcomes
in the adapter's order. tests/integration/test_money_contract.py runs one suite against both.

All money moves through ``FakeLedger``: ``check`` says whether a transfer may be written, ``apply`` writes
it, so the recycling book and the withdrawals never touch balances themselves. Locks are always taken in
the order ``FakeDevices.lock`` → ``FakeLedger.lock`` (both re-entrant), so the fakes cannot deadlock.

``FakeWeChatPay`` is a WeChat Pay merchant in memory: transfer bills by ``out_bill_no``, test controls
that play the resident (confirm / reject), one-shot faults, and callbacks signed with an HMAC that
``verify_notification`` checks the way the real adapter checks WeChat's RSA signature.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import LastEvent
from chalicelib.domain.errors import (
    CallbackRejected,
    InsufficientBalance,
    PayoutAmbiguous,
    PayoutRefused,
    UpstreamUnavailable,
)
from chalicelib.domain.ledger import Account, Entry, Transfer, Violation, check_invariants
from chalicelib.domain.recycling import WeighinRecord, china_day
from chalicelib.domain.withdrawals import Withdrawal, WithdrawalStatus
from chalicelib.ports import (
    BillState,
    DailyCap,
    IdempotencyReused,
    OutboxEvent,
    Page,
    PayNotification,
    TransferBill,
    WeighinContext,
    WeighinOutcome,
)

if TYPE_CHECKING:
    from tests.support.fakes import FakeCommunities, FakeDevices, FakeResidents

T = TypeVar("T")

#: the adapters' open-withdrawal queue is sharded like this (keys.OPEN_WITHDRAWAL_SHARDS)
OPEN_WITHDRAWAL_SHARDS = 4


class TransactionCancelled(Exception):
    """A condition failed that the adapter maps to no outcome: there it re-raises DynamoDB's
    ``TransactWriteError``; here this. Nothing was written."""


def _paginate(items: list[T], sort_key: Callable[[T], str], partition: str, limit: int, cursor: str | None,
              newest_first: bool = False) -> Page[T]:
    # fakes.py imports this module at its top, so its paginate (the shared cursor format) is fetched late
    from tests.support.fakes import paginate

    return paginate(items, sort_key, partition, limit, cursor, newest_first=newest_first)


# ------------------------------------------------------------------------------------------ ledger


def entry_sort_key(entry: Entry) -> str:
    """The adapter's entry sort key without its ``E#`` prefix: time, then transfer id."""
    return f"{entry.at_ms:013d}#{entry.transfer_id}"


class FakeLedger:
    """Balances, entries and transfers, as the hub table holds them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: account → (balance in fen, version); only accounts that ever moved (the adapter's balance items)
        self.balance_items: dict[Account, tuple[int, int]] = {}
        #: account → entry sort key → entry (memo includes the counterparty, as ``to_entry`` reads it)
        self.entry_items: dict[Account, dict[str, Entry]] = {}
        #: transfer id → transfer (the idempotency keys)
        self.transfers: dict[str, Transfer] = {}

    # --- the one place money moves ---------------------------------------------------------------
    def check(self, transfer: Transfer) -> Literal["duplicate", "insufficient"] | None:
        """Which of the transfer's conditions fail, in ``transfer_failure``'s order (caller holds the lock)."""
        if transfer.transfer_id in self.transfers:
            return "duplicate"
        if not transfer.debit.may_go_negative and self.balance_of(transfer.debit) < transfer.amount_fen:
            return "insufficient"
        return None

    def apply(self, transfer: Transfer) -> None:
        """Write a checked transfer: the transfer, two entries, two balance updates (caller holds the lock)."""
        assert self.check(transfer) is None, f"apply() of an unchecked transfer {transfer.transfer_id}"
        self.transfers[transfer.transfer_id] = transfer
        for entry, counterparty in zip(transfer.entries(), (transfer.credit, transfer.debit), strict=True):
            stored = dataclasses.replace(entry, memo=dict(entry.memo) | {"counterparty": counterparty.id})
            self.entry_items.setdefault(entry.account, {})[entry_sort_key(entry)] = stored
            balance, version = self.balance_items.get(entry.account, (0, 0))
            self.balance_items[entry.account] = (balance + entry.amount_fen, version + 1)

    def balance_of(self, account: Account) -> int:
        return self.balance_items.get(account, (0, 0))[0]

    # --- the port --------------------------------------------------------------------------------
    def transfer(self, transfer: Transfer) -> bool:
        with self.lock:
            failure = self.check(transfer)
            if failure == "duplicate":
                return False
            if failure == "insufficient":
                raise InsufficientBalance(f"{transfer.debit.id} holds less than {transfer.amount_fen} fen")
            self.apply(transfer)
            return True

    def balances(self, accounts: Sequence[Account]) -> dict[Account, tuple[int, int]]:
        with self.lock:
            return {account: self.balance_items.get(account, (0, 0)) for account in accounts}

    def entries(self, account: Account, limit: int, cursor: str | None) -> Page[Entry]:
        """Newest first; a cursor of another account's entries is bad input."""
        with self.lock:
            mine = list(self.entry_items.get(account, {}).values())
        return _paginate(mine, entry_sort_key, f"ACCT#{account.id}", limit, cursor, newest_first=True)

    def snapshot(self, account: Account) -> tuple[int, list[Entry]]:
        """The balance and every entry (oldest first, the partition's order), read together."""
        with self.lock:
            entries = self.entry_items.get(account, {})
            return self.balance_of(account), [entries[k] for k in sorted(entries)]

    def accounts(self) -> Iterator[Account]:
        with self.lock:
            found = list(self.balance_items)
        yield from found

    def transfer_exists(self, transfer_id: str) -> bool:
        return transfer_id in self.transfers

    # --- for tests -------------------------------------------------------------------------------
    def violations(self) -> list[Violation]:
        """What the reconciliation job would find wrong with the whole ledger (empty when the books are right)."""
        with self.lock:
            balances = {account: balance for account, (balance, _) in self.balance_items.items()}
            entries = [entry for by_key in self.entry_items.values() for entry in by_key.values()]
        return check_invariants(balances, entries, closed=True)


# --------------------------------------------------------------------------------------- recycling


def weighin_sort_key(record: WeighinRecord) -> str:
    """The adapter's weigh-in sort key (and gsi1 sort key): receipt time, thing, event."""
    return f"{record.received_at_ms:013d}#{record.thing_name}#{record.event_id}"


class FakeRecyclingBook:
    """Weigh-ins, daily-cap counters and the dedupe markers of weigh-in messages.

    ``seen`` may be shared with a ``FakeDeviceEventStore`` (pass its ``seen``): in DynamoDB both write
    the same ``EVENT#{thing}#{event_id}`` item.
    """

    def __init__(self, devices: FakeDevices, residents: FakeResidents, communities: FakeCommunities,
                 ledger: FakeLedger, seen: dict[tuple[str, str], DeviceMessage] | None = None) -> None:
        self.devices = devices
        self.residents = residents
        self.communities = communities
        self.ledger = ledger
        #: (thing name, event id) → the message recorded
        self.seen: dict[tuple[str, str], DeviceMessage] = {} if seen is None else seen
        #: (phone key, sort key) → weigh-in
        self.weighins: dict[tuple[str, str], WeighinRecord] = {}
        #: (community id, phone key, day) → fen credited
        self.caps: dict[tuple[str, str, str], int] = {}
        #: domain events written with the weigh-ins, in order
        self.outbox: list[OutboxEvent] = []

    def _owner(self, phone_key: str) -> str | None:
        return self.residents.phones.get(phone_key)

    def load_weighin(self, thing_name: str, event_id: str, cap: DailyCap, with_terms: bool) -> WeighinContext:
        with self.devices.lock, self.ledger.lock:
            return WeighinContext(
                device=self.devices.items.get(thing_name),
                seen=(thing_name, event_id) in self.seen,
                owner_resident_id=self._owner(cap.phone_key),
                credited_today_fen=self.caps.get((cap.community_id, cap.phone_key, cap.day), 0),
                terms=self.communities.terms(cap.community_id) if with_terms else None)

    def record_weighin(self, message: DeviceMessage, advance_last_seen: bool, record: WeighinRecord,
                       transfer: Transfer | None, cap: DailyCap, event: OutboxEvent | None) -> WeighinOutcome:
        with self.devices.lock, self.ledger.lock:
            key = (message.thing_name, message.event_id)
            cap_key = (cap.community_id, cap.phone_key, cap.day)
            device = self.devices.items.get(message.thing_name)
            # Every condition of the adapter's transaction, evaluated before anything is written.
            seen_failed = key in self.seen
            device_failed = advance_last_seen and (
                device is None or (device.last_seen_ms is not None and device.last_seen_ms >= message.received_at_ms))
            money = self.ledger.check(transfer) if transfer is not None else None
            counter = self.caps.get(cap_key)
            cap_failed = (counter or 0) > cap.cap_fen - record.credit_fen
            owner = self._owner(record.phone_key)
            owner_failed = owner != record.resident_id if record.resident_id else owner is not None

            if record.credit_fen > cap.cap_fen:  # as the adapter: refused before its transaction
                return WeighinOutcome.CAP_REACHED
            if seen_failed or money == "duplicate":
                return WeighinOutcome.DUPLICATE
            if owner_failed:
                return WeighinOutcome.OWNER_CHANGED
            if cap_failed:
                return WeighinOutcome.CAP_REACHED
            if device_failed:
                # A newer message moved last_seen past this one meanwhile: credit without moving it.
                return self.record_weighin(message, False, record, transfer, cap, event)
            if money == "insufficient":
                raise TransactionCancelled(f"{transfer.debit.id if transfer else '?'} would go negative")

            self.seen[key] = message
            if advance_last_seen and device is not None:
                self.devices.items[message.thing_name] = dataclasses.replace(
                    device, last_seen_ms=message.received_at_ms,
                    last_event=LastEvent(kind=message.kind, event_id=message.event_id, ts_ms=message.ts_ms))
            if transfer is not None:
                self.ledger.apply(transfer)
            self.weighins[(record.phone_key, weighin_sort_key(record))] = record
            self.caps[cap_key] = (counter or 0) + record.credit_fen
            if event is not None:
                self.outbox.append(event)
            return WeighinOutcome.RECORDED

    def weighins_of_phone(self, phone_key: str, limit: int, cursor: str | None) -> Page[WeighinRecord]:
        with self.ledger.lock:
            mine = [r for (pk, _), r in self.weighins.items() if pk == phone_key]
        return _paginate(mine, weighin_sort_key, f"WEIGHINS#{phone_key}", limit, cursor, newest_first=True)

    def weighins_of_day(self, community_id: str, day: str, limit: int, cursor: str | None) -> Page[WeighinRecord]:
        with self.ledger.lock:
            mine = [r for r in self.weighins.values()
                    if r.community_id == community_id and china_day(r.received_at_ms) == day]
        return _paginate(mine, weighin_sort_key, f"WEIGHINS#{community_id}#{day}", limit, cursor, newest_first=True)


# ------------------------------------------------------------------------------------- withdrawals


def withdrawal_sort_key(withdrawal: Withdrawal) -> str:
    return f"{withdrawal.created_at_ms:013d}#{withdrawal.withdrawal_id}"


def open_shard(withdrawal_id: str) -> int:
    """The adapter's shard of the open-withdrawal queue."""
    return hashlib.sha256(withdrawal_id.encode()).digest()[0] % OPEN_WITHDRAWAL_SHARDS


class FakeWithdrawals:
    """Withdrawals, the Idempotency-Keys residents used, and the WeChat Pay callbacks applied."""

    def __init__(self, ledger: FakeLedger) -> None:
        self.ledger = ledger
        #: withdrawal id → withdrawal as stored
        self.items: dict[str, Withdrawal] = {}
        #: ids still in the open-withdrawal queue (the adapter's sparse gsi2; ``finish`` takes them out)
        self.queued: set[str] = set()
        #: (resident id, Idempotency-Key) → (request hash, withdrawal id)
        self.idempotency: dict[tuple[str, str], tuple[str, str]] = {}
        #: notification id → when it was applied (ms)
        self.notifications: dict[str, int] = {}

    def start(self, withdrawal: Withdrawal, transfer: Transfer, idempotency: tuple[str, str] | None) -> None:
        with self.ledger.lock:
            exists = withdrawal.withdrawal_id in self.items
            money = self.ledger.check(transfer)
            idem_key = (withdrawal.resident_id, idempotency[0]) if idempotency is not None else None
            if idem_key is not None and idem_key in self.idempotency:
                raise IdempotencyReused(*self.idempotency[idem_key])
            if money == "insufficient":
                raise InsufficientBalance(f"the wallet holds less than {withdrawal.amount_fen} fen")
            if exists or money is not None:
                raise TransactionCancelled(f"withdrawal {withdrawal.withdrawal_id} or its transfer exists")
            # the adapter stores no bill fields at the start
            self.items[withdrawal.withdrawal_id] = dataclasses.replace(
                withdrawal, package_info=None, transfer_bill_no=None, fail_reason=None)
            self.queued.add(withdrawal.withdrawal_id)
            self.ledger.apply(transfer)
            if idem_key is not None and idempotency is not None:
                self.idempotency[idem_key] = (idempotency[1], withdrawal.withdrawal_id)

    def get(self, withdrawal_id: str) -> Withdrawal | None:
        with self.ledger.lock:
            return self.items.get(withdrawal_id)

    def record_bill(self, withdrawal_id: str, bill: TransferBill, now_ms: int) -> Withdrawal | None:
        with self.ledger.lock:
            stored = self.items.get(withdrawal_id)
            if stored is None or not stored.status.is_open:
                return None
            # as the adapter: a bill field WeChat left out does not erase the one recorded before
            updated = dataclasses.replace(stored, status=WithdrawalStatus.WAIT_USER_CONFIRM,
                                          package_info=bill.package_info or stored.package_info,
                                          transfer_bill_no=bill.transfer_bill_no or stored.transfer_bill_no,
                                          updated_at_ms=now_ms)
            self.items[withdrawal_id] = updated
            return updated

    def finish(self, withdrawal: Withdrawal, transfer: Transfer, notification_id: str | None) -> bool:
        with self.ledger.lock:
            stored = self.items.get(withdrawal.withdrawal_id)
            money = self.ledger.check(transfer)
            if stored is None or not stored.status.is_open or money == "duplicate" \
                    or (notification_id is not None and notification_id in self.notifications):
                return False
            if money == "insufficient":
                raise TransactionCancelled(f"{transfer.debit.id} holds less than {transfer.amount_fen} fen")
            # the adapter updates status, time and reason only; the bill fields stay as recorded
            self.items[withdrawal.withdrawal_id] = dataclasses.replace(
                stored, status=withdrawal.status, updated_at_ms=withdrawal.updated_at_ms,
                fail_reason=withdrawal.fail_reason or None)
            self.queued.discard(withdrawal.withdrawal_id)
            self.ledger.apply(transfer)
            if notification_id is not None:
                self.notifications[notification_id] = withdrawal.updated_at_ms
            return True

    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]:
        with self.ledger.lock:
            mine = [w for w in self.items.values() if w.resident_id == resident_id]
        return _paginate(mine, withdrawal_sort_key, f"WITHDRAWALS#{resident_id}", limit, cursor, newest_first=True)

    def list_open(self, created_before_ms: int, limit: int) -> list[Withdrawal]:
        """The oldest first across shards, at most ``limit`` — as the adapter merges them."""
        with self.ledger.lock:
            waiting = [self.items[wid] for wid in self.queued if self.items[wid].created_at_ms < created_before_ms]
        waiting.sort(key=lambda w: (w.created_at_ms, w.withdrawal_id))
        return waiting[:limit]

    def list_open_in_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]:
        with self.ledger.lock:
            listed = [self.items[wid] for wid in self.queued if self.items[wid].community_id == community_id]
        return _paginate(listed, withdrawal_sort_key, f"OPEN_WITHDRAWALS_IN#{community_id}", limit, cursor,
                         newest_first=True)


# ------------------------------------------------------------------------------------- WeChat Pay

FaultOp = Literal["create", "query", "cancel"]
FaultMode = Literal["ambiguous_after_success", "ambiguous_before", "refuse", "down"]
FAULT_OPS: tuple[str, ...] = get_args(FaultOp)
FAULT_MODES: tuple[str, ...] = get_args(FaultMode)

BILL_FINISHED = "MCHTRANSFER.BILL.FINISHED"
MIN_TRANSFER_FEN = 10
#: from 2,000 CNY WeChat wants the payee's (encrypted) real name, which the fake never gets
USER_NAME_FROM_FEN = 200_000
OUT_BILL_NO = re.compile(r"[A-Za-z0-9]{5,32}")
CLOCK_SKEW_S = 300
DEFAULT_FAIL_REASON = "PAYEE_ACCOUNT_ABNORMAL"
SIGNATURE_HEADER = "x-fake-signature"
TIMESTAMP_HEADER = "wechatpay-timestamp"
NONCE_HEADER = "wechatpay-nonce"
SERIAL_HEADER = "wechatpay-serial"
FAKE_SERIAL = "FAKE_PUB_KEY_ID_0001"
FAKE_SECRET = b"fake-wechatpay-notification-secret"


@dataclasses.dataclass
class FakeBill:
    """A transfer bill as the merchant platform holds it."""

    out_bill_no: str
    openid: str
    amount_fen: int
    remark: str
    transfer_bill_no: str
    package_info: str
    state: BillState = BillState.WAIT_USER_CONFIRM
    fail_reason: str | None = None

    def view(self) -> TransferBill:
        """What the API answers: ``package_info`` only while the resident can still confirm."""
        return TransferBill(out_bill_no=self.out_bill_no, state=self.state, amount_fen=self.amount_fen,
                            transfer_bill_no=self.transfer_bill_no,
                            package_info=self.package_info if self.state is BillState.WAIT_USER_CONFIRM else None,
                            fail_reason=self.fail_reason)

    def resource(self) -> dict[str, Any]:
        """What a callback carries about the bill (decrypted)."""
        resource: dict[str, Any] = {"out_bill_no": self.out_bill_no, "transfer_bill_no": self.transfer_bill_no,
                                    "state": self.state.value, "transfer_amount": self.amount_fen,
                                    "openid": self.openid}
        if self.fail_reason:
            resource["fail_reason"] = self.fail_reason
        return resource


def _signature(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """WeChat signs ``timestamp\\nnonce\\nbody\\n``; the fake does the same with an HMAC instead of RSA."""
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


class FakeWeChatPay:
    """The merchant's WeChat Pay: transfer bills (user-confirm mode), callbacks and faults, in memory.

    Answers and errors are what ``WeChatPayClient`` (chalicelib/adapters/wechatpay.py) makes of WeChat's:
    a new bill waits for the resident (WAIT_USER_CONFIRM, with ``package_info``); the same ``out_bill_no``
    again returns that bill (different amount or openid: refused); ``confirm`` / ``reject`` play the
    resident and WeChat and return the callback WeChat sends, which ``signed`` turns into what arrives.
    """

    def __init__(self, secret: bytes = FAKE_SECRET, serial: str = FAKE_SERIAL) -> None:
        self.lock = threading.RLock()
        self.secret = secret
        self.serial = serial
        #: out_bill_no → bill
        self.bills: dict[str, FakeBill] = {}
        #: every notification WeChat would have sent, in order
        self.sent: list[PayNotification] = []
        #: calls per operation ("create", "query", "cancel"), faulted ones included
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, deque[str]] = {op: deque() for op in FAULT_OPS}
        self._seq = 0

    # --- fault injection -------------------------------------------------------------------------
    def fail_next(self, op: FaultOp, mode: FaultMode) -> None:
        """Make the next ``op`` call fail this way (faults queue up; each acts once)."""
        if op not in FAULT_OPS:
            raise ValueError(f"unknown operation {op!r}; known: {FAULT_OPS}")
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {FAULT_MODES}")
        with self.lock:
            self._faults[op].append(mode)

    def _take_fault(self, op: str) -> str | None:
        """Count the call and act on a fault queued for it: a fault that acts before the operation raises
        here; ``ambiguous_after_success`` is returned, for ``_after`` once the operation is done.

        The errors are the ones the adapter (chalicelib/adapters/wechatpay.py) raises: for a create every
        lost answer is ``PayoutAmbiguous`` ("down" too: a request that never arrived is a lost answer to
        the caller); a query or a cancel that got no usable answer is ``UpstreamUnavailable``; a 4xx is
        ``PayoutRefused`` (except for a query, which the adapter reports as unavailable).
        """
        self.calls[op] += 1
        queue = self._faults[op]
        mode = queue.popleft() if queue else None
        if mode in ("ambiguous_before", "down") or (mode == "refuse" and op == "query"):
            raise self._lost(op, f"{mode}: the request did nothing")
        if mode == "refuse":
            raise PayoutRefused(f"WeChat Pay refused to {op} (fault injected)")
        return mode

    @staticmethod
    def _lost(op: str, detail: str) -> UpstreamUnavailable:
        if op == "create":
            return PayoutAmbiguous(f"WeChat Pay create: answer lost ({detail}); query the bill")
        return UpstreamUnavailable(f"WeChat Pay {op} failed ({detail})")

    def _after(self, op: str, mode: str | None) -> None:
        if mode == "ambiguous_after_success":
            raise self._lost(op, "after it was done")

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # --- the port --------------------------------------------------------------------------------
    def create_transfer_bill(self, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill:
        with self.lock:
            mode = self._take_fault("create")
            if not OUT_BILL_NO.fullmatch(out_bill_no):
                raise PayoutRefused(f"out_bill_no {out_bill_no!r} is not 5–32 letters and digits")
            if not openid or not remark:
                raise PayoutRefused("openid or remark is missing")
            if amount_fen < MIN_TRANSFER_FEN:
                raise PayoutRefused(f"transfer_amount {amount_fen} is below {MIN_TRANSFER_FEN} fen")
            if amount_fen >= USER_NAME_FROM_FEN:
                raise PayoutRefused("a transfer of 2,000 CNY or more needs user_name")
            bill = self.bills.get(out_bill_no)
            if bill is None:
                n = self._next()
                bill = FakeBill(out_bill_no=out_bill_no, openid=openid, amount_fen=amount_fen, remark=remark,
                                transfer_bill_no=f"1330{n:020d}", package_info=f"fake-package-{out_bill_no}-{n}")
                self.bills[out_bill_no] = bill
            elif (bill.openid, bill.amount_fen) != (openid, amount_fen):
                raise PayoutRefused(f"out_bill_no {out_bill_no} exists with other parameters")
            view = bill.view()
            self._after("create", mode)
            return view

    def query_transfer_bill(self, out_bill_no: str) -> TransferBill | None:
        with self.lock:
            if not OUT_BILL_NO.fullmatch(out_bill_no):
                return None  # as the adapter: WeChat could not hold a bill by that number; nothing is sent
            mode = self._take_fault("query")
            bill = self.bills.get(out_bill_no)
            self._after("query", mode)
            return None if bill is None else bill.view()

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBill:
        """From WAIT_USER_CONFIRM the bill is CANCELLED (WeChat answers CANCELING; the adapter reads the bill
        back); cancelling a cancelled bill is fine; unknown or any other state is refused."""
        with self.lock:
            if not OUT_BILL_NO.fullmatch(out_bill_no):
                raise PayoutRefused(f"out_bill_no {out_bill_no!r} is not 5–32 letters and digits")
            mode = self._take_fault("cancel")
            bill = self.bills.get(out_bill_no)
            if bill is None:
                raise PayoutRefused(f"no transfer bill {out_bill_no}")
            if bill.state is BillState.WAIT_USER_CONFIRM:
                self._end(bill, BillState.CANCELLED, None)
            elif bill.state is not BillState.CANCELLED:
                raise PayoutRefused(f"bill {out_bill_no} is {bill.state.value}; it cannot be cancelled")
            self._after("cancel", mode)
            return bill.view()

    def verify_notification(self, headers: Mapping[str, str], body: bytes, now_s: int) -> PayNotification:
        """Serial, then the time, then the signature over timestamp, nonce and body — all before the body
        is parsed — as the adapter does."""
        lowered = {str(name).lower(): str(value) for name, value in headers.items()}
        if lowered.get(SERIAL_HEADER) != self.serial:
            raise CallbackRejected("the callback names an unknown WeChat Pay key")
        signature, timestamp, nonce = (lowered.get(SIGNATURE_HEADER, ""), lowered.get(TIMESTAMP_HEADER, ""),
                                       lowered.get(NONCE_HEADER, ""))
        if not timestamp.isdigit() or len(timestamp) > 12 or not nonce or not signature:
            raise CallbackRejected("the callback's timestamp, nonce or signature is missing")
        if abs(int(timestamp) - now_s) > CLOCK_SKEW_S:
            raise CallbackRejected(f"the callback's timestamp is outside ±{CLOCK_SKEW_S} s of now")
        if not isinstance(body, bytes | bytearray):
            raise CallbackRejected("the callback's body must be bytes")
        if not hmac.compare_digest(signature, _signature(self.secret, timestamp, nonce, bytes(body))):
            raise CallbackRejected("the callback's signature does not verify")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise CallbackRejected("the callback is not JSON") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str) or not payload["id"] \
                or not isinstance(payload.get("event_type"), str) or not isinstance(payload.get("resource"), dict):
            raise CallbackRejected("the callback lacks id, event_type or resource")
        return PayNotification(notification_id=payload["id"], event_type=payload["event_type"],
                               resource=payload["resource"])

    # --- test controls: the resident, and WeChat's side ---------------------------------------------
    def confirm(self, out_bill_no: str) -> PayNotification:
        """The resident confirmed in the mini-program: SUCCESS, and the callback WeChat sends."""
        return self._finish(out_bill_no, BillState.SUCCESS, None)

    def reject(self, out_bill_no: str, fail_reason: str = DEFAULT_FAIL_REASON) -> PayNotification:
        """WeChat failed the transfer (say the payee's account is abnormal): FAIL, and the callback."""
        return self._finish(out_bill_no, BillState.FAIL, fail_reason)

    def _finish(self, out_bill_no: str, state: BillState, fail_reason: str | None) -> PayNotification:
        with self.lock:
            bill = self.bills.get(out_bill_no)
            if bill is None:
                raise KeyError(f"no transfer bill {out_bill_no}")
            if bill.state is not BillState.WAIT_USER_CONFIRM:
                raise ValueError(f"bill {out_bill_no} is {bill.state.value}, not WAIT_USER_CONFIRM")
            return self._end(bill, state, fail_reason)

    def _end(self, bill: FakeBill, state: BillState, fail_reason: str | None) -> PayNotification:
        bill.state, bill.fail_reason = state, fail_reason
        notification = PayNotification(notification_id=f"FAKE-EV-{self._next():08d}", event_type=BILL_FINISHED,
                                       resource=bill.resource())
        self.sent.append(notification)
        return notification

    def notifications_for(self, out_bill_no: str) -> list[PayNotification]:
        with self.lock:
            return [n for n in self.sent if n.resource.get("out_bill_no") == out_bill_no]

    def succeeded_total_fen(self) -> int:
        with self.lock:
            return sum(b.amount_fen for b in self.bills.values() if b.state is BillState.SUCCESS)

    # --- delivering callbacks ---------------------------------------------------------------------
    @staticmethod
    def body_of(notification: PayNotification) -> bytes:
        return json.dumps({"id": notification.notification_id, "event_type": notification.event_type,
                           "resource_type": "plain-resource", "resource": dict(notification.resource)},
                          ensure_ascii=False, sort_keys=True).encode()

    def sign(self, body: bytes, timestamp_s: int, nonce: str = "fake-nonce", secret: bytes | None = None
             ) -> dict[str, str]:
        """Headers WeChat would send with ``body`` (signed with ``secret``, the fake's own by default)."""
        ts = str(timestamp_s)
        return {SERIAL_HEADER: self.serial, TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce,
                SIGNATURE_HEADER: _signature(self.secret if secret is None else secret, ts, nonce, body)}

    def signed(self, notification: PayNotification, now_s: int) -> tuple[dict[str, str], bytes]:
        """The callback as WeChat delivers it at ``now_s``: (headers, body)."""
        body = self.body_of(notification)
        return self.sign(body, now_s), body

    def forged(self, notification: PayNotification, now_s: int) -> tuple[dict[str, str], bytes]:
        """The same callback signed by someone without the key."""
        body = self.body_of(notification)
        return self.sign(body, now_s, secret=b"not-" + self.secret), body


# --------------------------------------------------------------------------------------- assembly


@dataclasses.dataclass
class MoneyFakes:
    ledger: FakeLedger
    recycling: FakeRecyclingBook
    withdrawals: FakeWithdrawals
    wechatpay: FakeWeChatPay


def make_money_fakes(devices: FakeDevices, residents: FakeResidents, communities: FakeCommunities,
                     seen: dict[tuple[str, str], DeviceMessage] | None = None) -> MoneyFakes:
    """The money fakes over the given repositories; pass a ``FakeDeviceEventStore``'s ``seen`` to share
    dedupe markers with it, as the adapters share the table item."""
    ledger = FakeLedger()
    return MoneyFakes(ledger=ledger, recycling=FakeRecyclingBook(devices, residents, communities, ledger, seen),
                      withdrawals=FakeWithdrawals(ledger), wechatpay=FakeWeChatPay())
