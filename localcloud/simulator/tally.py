"""What the simulator did and saw while the day ran (thread-safe counters)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class OrderTrack:
    order_id: str
    household: int
    service_id: str
    amount_fen: int
    token: str
    out_trade_no: str = ""
    paid_at: float | None = None  # wall time the payment went through the sandbox
    offered: int = 0  # verified order.offered deliveries
    accepted: bool = False
    started: bool = False
    completed: bool = False
    cancelled: bool = False
    final_status: str = ""


@dataclass
class WithdrawalTrack:
    withdrawal_id: str
    out_bill_no: str
    amount_fen: int
    confirms: bool
    token: str
    final_status: str = ""


@dataclass
class Weighin:
    category: str
    weight_g: int
    credit_fen: int
    ts_ms: int


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: Counter[str] = field(default_factory=Counter)  # device messages by kind
    weighins: list[Weighin] = field(default_factory=list)  # the valid ones, as the bins weighed them
    expected_rejects: Counter[str] = field(default_factory=Counter)
    tasks_opened: int = 0  # as the bins saw it: a reading at or above the threshold with no task open
    tasks_closed: int = 0
    bins_emptied: int = 0
    intrusions: set[str] = field(default_factory=set)  # households ("3-1204") broken into
    leaks: int = 0  # leak alarms the meters should have raised
    orders: dict[str, OrderTrack] = field(default_factory=dict)
    withdrawals: list[WithdrawalTrack] = field(default_factory=list)
    withdrawals_skipped: int = 0  # nothing (or less than 0.10 CNY) in the wallet yet
    webhook_latency_ms: list[float] = field(default_factory=list)
    webhook_types: Counter[str] = field(default_factory=Counter)
    webhook_refused: int = 0
    webhook_repeats: int = 0  # the same webhook-id again (a retry the receiver had already taken)
    irrigation_commands: Counter[str] = field(default_factory=Counter)
    logins: int = 0
    phones_bound: int = 0
    problems: list[str] = field(default_factory=list)  # HTTP calls that failed unexpectedly
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (wall time, device messages queued)

    def count(self, kind: str) -> None:
        with self.lock:
            self.sent[kind] += 1

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)

    @property
    def events(self) -> int:
        with self.lock:
            return sum(self.sent.values())

    def order_funnel(self) -> dict[str, int]:
        with self.lock:
            tracks = list(self.orders.values())
        return {"placed": len(tracks), "paid": sum(t.paid_at is not None for t in tracks),
                "offered": sum(t.offered > 0 for t in tracks), "accepted": sum(t.accepted for t in tracks),
                "completed": sum(t.completed for t in tracks),
                "cancelled": sum(t.cancelled for t in tracks)}

    def open_work(self) -> int:
        """Orders paid but not yet completed by their partner: what the end of the day waits for."""
        with self.lock:
            return sum(1 for t in self.orders.values() if t.paid_at is not None and not t.completed)
