"""What the hub shows after the day, checked against what the community did.

The verdict is the ledger's live invariant check plus the effects a person would look for: every
valid weigh-in credited (held or in a wallet) for exactly its worth, every paid order completed by its
partner, every answered withdrawal settled, a cleaning task per bin that crossed the threshold, an
alarm per intrusion, refusal burst and leaking night, and no rejects but the ones the day staged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud.simulator.clock import DAY_MS, china_day, now_ms
from localcloud.simulator.hub_client import HubClient, HubError
from localcloud.simulator.tally import Tally


@dataclass
class HubView:
    ledger: dict[str, Any] = field(default_factory=dict)
    weighins: list[dict[str, Any]] = field(default_factory=list)
    tasks_open: int = 0
    tasks_closed: int = 0
    alarms: Counter[str] = field(default_factory=Counter)
    alarms_acknowledged: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    orders: Counter[str] = field(default_factory=Counter)
    withdrawals: Counter[str] = field(default_factory=Counter)
    paid_out_fen: int = 0


@dataclass(frozen=True)
class Expected:
    door_bursts: int
    leaks: int


def look(hub: HubClient, cid: str, manager: str, tally: Tally, since_ms: int) -> HubView:
    """Read the community back through the staff and resident APIs."""
    base = f"/v1/admin/communities/{cid}"
    view = HubView(ledger=hub.call("GET", base + "/ledger", token=manager))
    days = sorted({china_day(t) for t in range(since_ms, now_ms() + 1, DAY_MS // 2)} | {china_day(now_ms())})
    for day in days:
        view.weighins += hub.pages(f"{base}/recycling/weighins?day={day}", token=manager)
    view.tasks_open = len(hub.pages(base + "/tasks?status=open", token=manager))
    view.tasks_closed = len(hub.pages(base + "/tasks?status=closed", token=manager))
    for alarm in hub.pages(base + "/alarms", token=manager):
        view.alarms[str(alarm["kind"])] += 1
        view.alarms_acknowledged += alarm.get("acknowledged_at") is not None
    view.rejects = Counter(str(r["reason"]) for r in hub.pages(base + "/rejects", token=manager))
    with tally.lock:
        orders = list(tally.orders.values())
        withdrawals = list(tally.withdrawals)
    for order in orders:
        order.final_status = str(hub.call("GET", f"/v1/orders/{order.order_id}", token=order.token)["status"])
        view.orders[order.final_status] += 1
    for withdrawal in withdrawals:
        found = hub.call("GET", f"/v1/wallet/withdrawals/{withdrawal.withdrawal_id}", token=withdrawal.token)
        withdrawal.final_status = str(found["status"])
        view.withdrawals[withdrawal.final_status] += 1
        view.paid_out_fen += withdrawal.amount_fen if withdrawal.final_status == "succeeded" else 0
    return view


def verdict(view: HubView, tally: Tally, expected: Expected) -> list[str]:
    """Everything that is not as it should be (empty: all is well)."""
    wrong: list[str] = []
    ledger = view.ledger
    if not ledger.get("invariants_ok"):
        wrong.append(f"ledger invariants violated: {ledger.get('violations')}")
    totals = ledger.get("totals", {})
    with tally.lock:
        credits = len(tally.weighins)
        worth = sum(w.credit_fen for w in tally.weighins)
        intrusions = len(tally.intrusions)
        tasks_opened, tasks_closed = tally.tasks_opened, tally.tasks_closed
        expected_rejects = Counter(tally.expected_rejects)
        orders = list(tally.orders.values())
        withdrawals = list(tally.withdrawals)
        refused = tally.webhook_refused
    if totals.get("credits") != credits:
        wrong.append(f"{credits} valid weigh-ins were weighed, the ledger shows {totals.get('credits')} credits")
    booked = int(totals.get("credited_to_wallets", 0)) + int(totals.get("held_for_unbound_phones", 0))
    if booked != worth:
        wrong.append(f"the weigh-ins are worth {worth} fen, the ledger credited {booked} fen")
    if len(view.weighins) != credits:
        wrong.append(f"staff see {len(view.weighins)} weigh-ins, {credits} were credited")
    for order in orders:
        if order.paid_at is not None and order.final_status != "completed":
            wrong.append(f"paid order {order.order_id} ({order.service_id}) is {order.final_status!r}, not completed")
        if order.cancelled and order.final_status != "cancelled":
            wrong.append(f"cancelled order {order.order_id} is {order.final_status!r}")
    for withdrawal in withdrawals:
        want = "succeeded" if withdrawal.confirms else "failed"
        if withdrawal.final_status != want:
            wrong.append(f"withdrawal {withdrawal.withdrawal_id} is {withdrawal.final_status!r}, expected {want!r}")
    if view.tasks_open + view.tasks_closed != tasks_opened or view.tasks_closed != tasks_closed:
        wrong.append(f"bins crossed the threshold {tasks_opened}× and were emptied below it {tasks_closed}×; "
                     f"the hub shows {view.tasks_open} open + {view.tasks_closed} closed tasks")
    for kind, count in (("intrusion", intrusions), ("door_denied", expected.door_bursts), ("leak", expected.leaks)):
        if view.alarms.get(kind, 0) != count:
            wrong.append(f"expected {count} {kind} alarm(s), the hub shows {view.alarms.get(kind, 0)}")
    if view.rejects != expected_rejects:
        wrong.append(f"rejects {dict(view.rejects)} differ from the ones staged {dict(expected_rejects)}")
    if refused:
        wrong.append(f"{refused} webhook deliveries failed signature verification")
    return wrong


def settle(hub: HubClient, cid: str, manager: str, tally: Tally, since_ms: int, expected: Expected,
           timeout_s: float, pause: Callable[[float], None]) -> tuple[HubView, list[str]]:
    """Look until the verdict is clean or ``timeout_s`` passes (effects trail the queue by a little:
    entry-delay timers, webhook deliveries); ``pause(seconds)`` waits between looks."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            view = look(hub, cid, manager, tally, since_ms)
            wrong = verdict(view, tally, expected)
        except HubError as exc:
            view, wrong = HubView(), [f"the hub answered an error: {exc}"]
        if not wrong or time.monotonic() >= deadline:
            return view, wrong
        pause(min(3.0, max(0.0, deadline - time.monotonic())))
