"""Webhook fan-out on localcloud: 1,000 paid orders offered to 5 partner receivers on loopback.

Setup through the API: a community with five services, each covered by one partner whose endpoint is a
loopback receiver that verifies every delivery with the ``standardwebhooks`` library (as a partner's
code would); 20 residents with a residence; 1,000 orders created (round-robin over the services), each
with its WeChat JSAPI prepay (not timed: that is the order API, not the fan-out).

Timed run: 8 client threads pay every order through the WeChat Pay sandbox's ``/pay`` helper — the
sandbox sends the signed TRANSACTION.SUCCESS callback to the hub, which verifies it and offers the order
(outbox → stream → webhook queue → sender → partner). Reported: deliveries per second (first payment to
last delivery) and the p50 / p99 time from the payment call returning to the partner having verified
the delivery. The whole hub (API, moto, pumps, functions, sandbox) is one Python process on localcloud,
so these are the local stack's numbers, not Lambda's (which runs many senders at once).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.hub import BenchHub, hub_or_own
from tests.support.order_pipeline import PartnerReceiver, start_partner

ORDERS = 1000
PARTNERS = 5
RESIDENTS = 20
CLIENT_THREADS = 8
#: orders paid one at a time afterwards, each waiting for its delivery: the latency with no backlog
UNLOADED = 20
PRICE_FEN = 2500


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


def setup(hub: BenchHub) -> tuple[str, list[PartnerReceiver], list[str]]:
    cid = str(hub.call("POST", "/v1/admin/communities", {"name": "bench orders"})["community_id"])
    receivers = []
    for n in range(PARTNERS):
        hub.call("PUT", f"/v1/admin/communities/{cid}/services/svc{n}",
                 {"name": f"服务{n}", "price_fen": PRICE_FEN, "fulfilled_by": "partner", "accept_sla_s": 3600})
        receiver = start_partner(PartnerReceiver())
        partner = hub.call("POST", f"/v1/admin/communities/{cid}/partners",
                           {"name": f"partner {n}", "services": [f"svc{n}"], "webhook_url": receiver.url})
        receiver.secret = partner["webhook_secret"]
        receivers.append(receiver)
    tokens = []
    for _ in range(RESIDENTS):
        token = hub.call("POST", "/v1/auth/wechat", {"code": f"sandbox-{uuid.uuid4().hex}"}, token=None)["token"]
        hub.call("PUT", "/v1/me/residence", {"community_id": cid, "building": "1", "room": "101"}, token=token)
        tokens.append(token)
    return cid, receivers, tokens


def measure(hub: BenchHub | None = None, orders: int = ORDERS) -> dict[str, float]:
    with hub_or_own(hub) as running:
        return _measure(running, orders)


def _measure(hub: BenchHub, orders: int) -> dict[str, float]:
    _, receivers, tokens = setup(hub)
    paid_at: dict[str, float] = {}
    lock = threading.Lock()
    session = requests.Session()

    def place(n: int) -> tuple[str, str]:
        headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}", "Idempotency-Key": f"bench-{n}"}
        created = session.post(hub.api + "/v1/orders", json={"service_id": f"svc{n % PARTNERS}"}, headers=headers,
                               timeout=60)
        created.raise_for_status()
        order = created.json()
        return str(order["order_id"]), str(order["payment"]["out_trade_no"])

    def pay(placed: tuple[str, str]) -> None:
        paid = session.post(f"{hub.sandbox}/_sandbox/wechat/transactions/{placed[1]}/pay", timeout=60)
        paid.raise_for_status()
        with lock:
            paid_at[placed[0]] = time.monotonic()

    placing = time.monotonic()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        placed = list(pool.map(place, range(orders + UNLOADED)))
    placed_s = time.monotonic() - placing
    placed, unloaded = placed[:orders], placed[orders:]
    started, cpu_before = time.monotonic(), hub.cpu_seconds()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(pay, placed))
    paying_s = time.monotonic() - started
    deadline = time.monotonic() + 600
    while sum(len(r.received) for r in receivers) < orders and time.monotonic() < deadline:
        time.sleep(0.1)
    arrivals = _arrivals(receivers)
    last = max(arrivals.values()) if arrivals else time.monotonic()
    cpu_after = hub.cpu_seconds()
    quiet: list[float] = []
    for one in unloaded:  # one at a time, nothing queued ahead of it
        pay(one)
        deadline = time.monotonic() + 60
        while one[0] not in _arrivals(receivers) and time.monotonic() < deadline:
            time.sleep(0.005)
        if one[0] in _arrivals(receivers):
            quiet.append(_arrivals(receivers)[one[0]] - paid_at[one[0]])
    for receiver in receivers:
        assert receiver.server is not None
        receiver.server.shutdown()
    delivered = [oid for oid in paid_at if oid in arrivals]
    latencies = [arrivals[oid] - paid_at[oid] for oid in delivered]
    refused = sum(r.refused for r in receivers)
    print(f"[bench] webhooks: {len(delivered)}/{orders} delivered, {refused} refused verification",
          file=sys.stderr)
    return {
        "webhook_orders": orders,
        "webhook_delivered": len(delivered),
        "webhook_signature_failures": refused,
        "webhook_orders_placed_per_s": round(orders / placed_s, 1),
        "webhook_payments_per_s": round(orders / paying_s, 1),
        "webhook_deliveries_per_s": round(len(delivered) / (last - started), 1),
        "webhook_hub_cpu_share": round((cpu_after - cpu_before) / (last - started), 2)
        if cpu_before is not None and cpu_after is not None else -1,
        "webhook_p50_paid_to_delivered_ms": round(_percentile(latencies, 0.50) * 1000) if latencies else -1,
        "webhook_p99_paid_to_delivered_ms": round(_percentile(latencies, 0.99) * 1000) if latencies else -1,
        "webhook_unloaded_p50_ms": round(_percentile(quiet, 0.50) * 1000) if quiet else -1,
        "webhook_unloaded_p99_ms": round(_percentile(quiet, 0.99) * 1000) if quiet else -1,
    }


def _arrivals(receivers: list[PartnerReceiver]) -> dict[str, float]:
    """When each order's offer was verified by its partner (the first delivery of it)."""
    arrivals: dict[str, float] = {}
    for receiver in receivers:
        with receiver.lock:
            for delivery in receiver.received:
                arrivals.setdefault(delivery["data"]["order_id"], delivery["_arrived"])
    return arrivals
