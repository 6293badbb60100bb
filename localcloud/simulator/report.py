"""A self-contained HTML report of the day: the summary table and inline SVG charts."""

from __future__ import annotations

import itertools
from datetime import datetime
from html import escape
from pathlib import Path

from localcloud.simulator import habits, svg
from localcloud.simulator.clock import china_hour
from localcloud.simulator.outcome import HubView
from localcloud.simulator.summary import RunFacts, percentile
from localcloud.simulator.tally import Tally

LATENCY_BUCKETS_MS = (50, 100, 200, 500, 1000, 2000, 5000, 15000)
STYLE = """body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}pre{background:#f6f6f2;padding:1em;overflow-x:auto;
font-size:12px;line-height:1.4}.ok{color:#2f7d5b}.bad{color:#b5485d}.empty{color:#888}"""


def recycling_by_hour(view: HubView) -> dict[str, list[float]]:
    """kg per China hour of the weigh-in, per category, from the hub's records."""
    series = {c: [0.0] * 24 for c in habits.CATEGORIES}
    for w in view.weighins:
        if w.get("category") in series and w.get("ts"):
            ms = int(datetime.fromisoformat(str(w["ts"])).timestamp() * 1000)
            series[str(w["category"])][china_hour(ms)] += int(w["weight_g"]) / 1000
    return series


def latency_histogram(latencies: list[float]) -> list[tuple[str, float]]:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for value in latencies:
        counts[sum(value >= b for b in LATENCY_BUCKETS_MS)] += 1
    labels = [f"< {LATENCY_BUCKETS_MS[0]} ms"]
    labels += [f"{a}–{b} ms" for a, b in itertools.pairwise(LATENCY_BUCKETS_MS)]
    labels.append(f"≥ {LATENCY_BUCKETS_MS[-1]} ms")
    last = max((n for n, c in enumerate(counts) if c), default=0)
    return list(zip(labels, map(float, counts), strict=True))[: last + 1]


def backlog_columns(tally: Tally, columns: int = 48) -> tuple[list[str], dict[str, list[float]]]:
    """The hub's device-message backlog over the run, the largest sample in each slice of time."""
    samples = list(tally.backlog)
    if not samples:
        return [], {}
    first, last = samples[0][0], samples[-1][0]
    width = max(1e-6, (last - first) / columns)
    peaks = [0.0] * columns
    for at, depth in samples:
        slot = min(columns - 1, int((at - first) / width))
        peaks[slot] = max(peaks[slot], float(depth))
    labels = [f"{int(n * width)}s" if n % 8 == 0 else "" for n in range(columns)]
    return labels, {"device messages waiting": peaks}


def render(facts: RunFacts, tally: Tally, view: HubView, table: list[str], ok: bool) -> str:
    funnel = tally.order_funnel()
    steps = [("placed", funnel["placed"]), ("paid", funnel["paid"]), ("offered (webhook)", funnel["offered"]),
             ("accepted", funnel["accepted"]), ("completed", view.orders.get("completed", 0))]
    latencies = tally.webhook_latency_ms
    sections = [
        ("Recycling by hour and category",
         svg.stacked_columns([f"{h:02d}" for h in range(24)], recycling_by_hour(view), unit=" kg")),
        ("Alarms", svg.bars(sorted(view.alarms.items()), color=svg.PALETTE[3])),
        ("Order funnel", svg.bars([(k, float(v)) for k, v in steps], color=svg.PALETTE[2])),
        (f"Webhook latency (p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
         "event to verified delivery)", svg.bars(latency_histogram(latencies), color=svg.PALETTE[4])),
        ("Device events sent", svg.bars([(k, float(v)) for k, v in tally.sent.most_common()])),
        ("Hub backlog over the run (wall seconds)", svg.stacked_columns(*backlog_columns(tally), unit=" msgs")),
    ]
    verdict = '<p class="ok">All expected effects seen; the ledger balances.</p>' if ok else \
        '<p class="bad">Some expected effects were missing — see the end of the table.</p>'
    body = "".join(f"<section><h2>{escape(title)}</h2>{chart}</section>" for title, chart in sections)
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Linli community day</title>'
            f"<style>{STYLE}</style></head><body><h1>Linli — a simulated community day</h1>{verdict}"
            f"<pre>{escape(chr(10).join(table))}</pre>{body}</body></html>")


def write(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
