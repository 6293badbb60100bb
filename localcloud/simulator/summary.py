"""The end-of-day table on stdout, and the facts the HTML report draws from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from localcloud.simulator import habits
from localcloud.simulator.outcome import HubView
from localcloud.simulator.tally import Tally


@dataclass
class RunFacts:
    households: int
    hours: float
    speed: float
    seed: int
    community_id: str = ""
    setup_s: float = 0.0
    day_s: float = 0.0
    drain_s: float = 0.0  # from the end of the schedule until the hub had taken in every message
    settle_s: float = 0.0  # then until the effects were visible (or the timeout)
    queue_readable: bool = False
    report_path: str = ""

    @property
    def total_s(self) -> float:
        return self.setup_s + self.day_s + self.drain_s + self.settle_s


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))] if ordered else 0.0


def by_category(view: HubView) -> dict[str, tuple[int, int, int]]:
    """category → (weigh-ins, grams, fen credited), as the hub recorded them."""
    found: dict[str, tuple[int, int, int]] = {}
    for category in habits.CATEGORIES:
        rows = [w for w in view.weighins if w.get("category") == category]
        found[category] = (len(rows), sum(int(w["weight_g"]) for w in rows), sum(int(w["credit_fen"]) for w in rows))
    return found


def cny(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def lines(facts: RunFacts, tally: Tally, view: HubView, wrong: list[str]) -> list[str]:
    events = tally.events
    busy_s = facts.day_s + facts.drain_s
    peak = max((b for _, b in tally.backlog), default=0)
    out = [
        f"Linli community day — {facts.households} households, {facts.hours:g} h at {facts.speed:g}× (seed "
        f"{facts.seed}), community {facts.community_id}",
        f"wall {facts.total_s:.0f} s: setup {facts.setup_s:.0f} s · day {facts.day_s:.0f} s · hub catching up "
        f"{facts.drain_s:.0f} s · effects visible after {facts.settle_s:.0f} s more",
        f"device events {events:,} ({', '.join(f'{k} {v}' for k, v in tally.sent.most_common())})",
        f"hub took in {events / busy_s if busy_s else 0:.1f} events/s (sent at the day's pace); " + (
            f"largest backlog {peak} messages" if facts.queue_readable else "backlog not readable (no AWS endpoint)"),
        "",
        f"{'recycling':<12}{'weigh-ins':>10}{'kg':>10}{'CNY':>10}",
    ]
    totals = [0, 0, 0]
    for category, (count, grams, fen) in by_category(view).items():
        out.append(f"  {category:<10}{count:>10}{grams / 1000:>10.1f}{cny(fen):>10}")
        totals = [totals[0] + count, totals[1] + grams, totals[2] + fen]
    out.append(f"  {'total':<10}{totals[0]:>10}{totals[1] / 1000:>10.1f}{cny(totals[2]):>10}   credited weigh-ins")
    funnel = tally.order_funnel()
    completed = view.orders.get("completed", 0)
    latencies = tally.webhook_latency_ms
    ledger = view.ledger.get("totals", {})
    alarms = ", ".join(f"{k} {v}" for k, v in sorted(view.alarms.items())) or "none"
    rejects = ", ".join(f"{k} {v}" for k, v in sorted(view.rejects.items())) or "none"
    withdrawals = Counter(w.final_status for w in tally.withdrawals)
    out += [
        "",
        f"cleaning tasks  opened {view.tasks_open + view.tasks_closed} · closed {view.tasks_closed} · "
        f"still open {view.tasks_open} (cleaner visits {tally.bins_emptied})",
        f"alarms          {alarms} ({view.alarms_acknowledged} acknowledged by the guard)",
        f"orders          placed {funnel['placed']} → paid {funnel['paid']} → accepted {funnel['accepted']} → "
        f"completed {completed} (cancelled {view.orders.get('cancelled', 0)})",
        f"webhooks        {sum(tally.webhook_types.values())} delivered and verified, {tally.webhook_refused} refused, "
        f"{tally.webhook_repeats} repeats · latency p50 {percentile(latencies, 0.5):.0f} ms · "
        f"p99 {percentile(latencies, 0.99):.0f} ms",
        f"withdrawals     {len(tally.withdrawals)} requested · {withdrawals.get('succeeded', 0)} succeeded · "
        f"{withdrawals.get('failed', 0)} turned down by the resident · {cny(view.paid_out_fen)} CNY paid out"
        + (f" · {tally.withdrawals_skipped} found nothing to withdraw" if tally.withdrawals_skipped else ""),
        f"irrigation      {sum(tally.irrigation_commands.values())} water commands received by the zones",
        f"residents       {tally.logins} logged in · {tally.phones_bound} phones bound",
        f"rejects         {rejects}",
        f"ledger          credits {ledger.get('credits', 0)} · to wallets "
        f"{cny(int(ledger.get('credited_to_wallets', 0)))} CNY · held for unbound phones "
        f"{cny(int(ledger.get('held_for_unbound_phones', 0)))} CNY · invariants "
        + ("ok" if view.ledger.get("invariants_ok") else "VIOLATED"),
    ]
    if facts.report_path:
        out.append(f"report          {facts.report_path}")
    if tally.problems:
        out.append(f"problems        {'; '.join(tally.problems[:5])}")
    out.append("")
    out += ["RESULT: ok — the hub showed every expected effect and the ledger balances"] if not wrong else [
        "RESULT: FAILED", *(f"  - {w}" for w in wrong)]
    return out
