"""What AWS would bill per device message, per order and per webhook attempt, on a warm container.

``python -m bench.capacity_units [N]`` runs the real handlers in this process against moto (decorator
mode), wired by the app's composition root with WeChat faked (the pattern of
``bench/requests_per_event.py``), and prints, per message of each kind and summed over every function
the message sets off: DynamoDB requests, read and write request units as on-demand bills them (table and
GSI writes apart), outbox events, SNS topic publishes, SMS, SQS messages the functions send, IoT command
publishes, Lambda records, CloudWatch log bytes, and the storage left behind (permanent bytes, and
byte-days for items with a TTL). Then the 160,000-community plan (``bench/capacity_plan.py``,
``docs/capacity.md``) from those numbers.

Method: ``bench/capacity_meter.py`` (billing rules, applied to moto's items before and after each call);
``bench/capacity_pipeline.py`` (outbox → stream handler → SNS → channel queues → workers, by hand).
Kinds: a weigh-in credited to a bound resident (who has no WeChat subscribe allowance, so the channel
texts them), the same weigh-ins again (duplicates), heartbeats, meter readings (a household's meter,
usage counted), fill readings below the threshold, granted door access, soil readings moist enough not
to water, a security sensor at a disarmed home; then paid service orders (placed, paid by WeChat Pay
callback, offered to the partner by webhook, accepted / started / completed through the partner API,
each change told to the resident, commission settled) and, out of the same runs, the webhook attempts.
Each kind is warmed by one message first (secrets, terms and offer caches), N messages are measured;
the meter first gets its steady-state window (48 h of readings every 15 minutes, sent with those times).

Approximations: sizes are of PynamoDB's encoding in moto (what DynamoDB would store); a refused
conditional write and a cancelled transaction are charged as written (upper bound); items a query
filter dropped are estimated from ``ScannedCount / Count`` (no measured path filters); storage counts
100 bytes of overhead per item and per index entry; the IoT rule's SQS send, the event source mappings'
receives / deletes, Lambda's own log lines and the SNS → SQS deliveries are not seen here and are
added by the plan per message or per batch; WeChat Pay's prepay and SMS delivery are outside AWS calls
(SMS counted as SNS publishes to a phone number).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
import warnings
from collections import defaultdict
from typing import Any

from bench.capacity_meter import REGION, Meter, Normalizer, Tally, item_size
from bench.capacity_pipeline import Harness, Run, environment
from bench.requests_per_event import PHONE, recycling_resident

N = 10
ORDER_PHONE = "13900139000"
#: readings a meter's window holds at its steady size (domain/meters.py: 48 h; one every 15 minutes)
METER_WINDOW_POINTS, QUARTER_MS = 192, 15 * 60_000
#: measured kind → (topic kind, thing, device type, where it is)
DEVICES: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "weighin": ("weighin", "cap-bin", "recycling_bin", {"location": "bin point 1"}),
    "heartbeat": ("heartbeat", "cap-hb", "trash_bin", {"location": "east gate"}),
    "meter": ("meter", "cap-em", "electricity_meter", {"building": "1", "room": "101"}),
    "fill_below": ("fill", "cap-tb", "trash_bin", {"location": "bin point 2"}),
    "access_granted": ("access", "cap-door", "door", {"location": "gate 1"}),
    "soil_no_water": ("soil", "cap-zone", "irrigation", {"location": "zone 1"}),
    "security_disarmed": ("security", "cap-sp", "security_panel", {"building": "1", "room": "102"}),
}
#: after :func:`measure`: per kind, the per-message table; Lambda records per function; partitions by shape
MEASURED: dict[str, dict[str, float]] = {}
RECORDS: dict[str, dict[str, float]] = {}
PARTITIONS: dict[str, dict[str, float]] = {}
ITEMS: dict[str, float] = {}  # sizes the plan needs (a device item, read by the health check)


def _fields(kind: str, i: int) -> dict[str, Any]:
    fields: dict[str, dict[str, Any]] = {
        "weighin": {"category": "paper", "weight_g": 1000 + i, "phone": PHONE},
        "meter": {"reading": round(100 + 0.01 * i, 3), "unit": "kWh"},
        "fill": {"fill_pct": 30},
        "access": {"door": "gate 1", "result": "granted", "method": "face"},
        "soil": {"moisture_pct": 40, "temp_c": 18},
        "security": {"sensor": "front door", "state": "open"}}
    return fields.get(kind, {})


def _devices(harness: Harness, n: int) -> dict[str, Run]:
    from chalicelib.domain.identity import phone_key
    from chalicelib.handlers.device_events import handle_device_events as handle
    from chalicelib.services import communities
    from tests.support import events

    deps, normalize = harness.deps, harness.meter_names
    harness.cid = cid = communities.create_community(deps, "capacity").community_id
    normalize.add(cid, "cid")
    for _, thing, device_type, where in DEVICES.values():
        communities.register_device(deps, cid, thing, device_type, **where)
        normalize.add(thing, "thing")
    normalize.add(recycling_resident(deps, cid, "capacity-resident"), "rid")
    normalize.add(phone_key(deps.secrets.app_secrets().phone_pepper, PHONE), "phone")
    harness.downstream(Run(0))  # device.registered …: setup, not measured

    def send(run: Run, name: str, event_id: str, i: int, at_ms: int | None = None, **changes: Any) -> None:
        kind, thing, _, _ = DEVICES[name]
        now = at_ms or time.time_ns() // 1_000_000
        payload = {"event_id": event_id, "ts": now - 1_000 + i, **_fields(kind, i), **changes}
        with harness.phase(run, "device"):
            result = handle(events.sqs_device_event(payload, events.topic(cid, thing, kind), thing, now))
        assert not result["batchItemFailures"], result
        harness.downstream(run)

    runs: dict[str, Run] = {}
    for name in DEVICES:
        at: list[int | None] = [None] * n
        if name == "meter":  # the window at its steady size (48 h of readings every 15 minutes), and kept
            # there: the measured readings come 15 minutes apart too, each pushing the oldest point out
            start = time.time_ns() // 1_000_000 - (METER_WINDOW_POINTS + n + 1) * QUARTER_MS
            for k in range(METER_WINDOW_POINTS):
                send(Run(1), name, f"past-{k}", 0, at_ms=start + k * QUARTER_MS, reading=round(99 + k / 1000, 3))
            at = [start + (METER_WINDOW_POINTS + 1 + i) * QUARTER_MS for i in range(n)]
            send(Run(1), name, "warmup", 0, at_ms=start + METER_WINDOW_POINTS * QUARTER_MS)
        else:
            send(Run(1), name, "warmup", 0)
        runs[name] = Run(n)
        for i in range(n):
            send(runs[name], name, f"m-{i}", i + 1, at_ms=at[i])
        if name == "weighin":
            runs["weighin_duplicate"] = Run(n)
            for i in range(n):
                send(runs["weighin_duplicate"], name, f"m-{i}", i + 1)
    return runs


class _Jsapi:
    """WeChat Pay JSAPI stand-in: the prepay is a call to WeChat, not a request AWS bills."""

    def create_jsapi_order(self, out_trade_no: str, openid: str, amount_fen: int, description: str) -> Any:
        from chalicelib.ports.payments import Charge, ChargeState

        return Charge(provider="wechatpay", out_trade_no=out_trade_no, amount_fen=amount_fen,
                      state=ChargeState.PENDING)


def _orders(harness: Harness, n: int) -> dict[str, Run]:
    from chalicelib.domain.identity import Principal, Role
    from chalicelib.services import catalog, identity, order_flow, order_payments, orders, partners
    from tests.support.fakes import FakeWeChat
    from tests.support.order_pipeline import PartnerReceiver, start_partner

    deps, cid, normalize = harness.deps, harness.cid, harness.meter_names
    assert deps.order_deps is not None
    deps.order_deps.jsapi = _Jsapi()
    catalog.put_service(deps, cid, "cleaning", {"name": "一小时保洁", "price_fen": 5000, "fulfilled_by": "partner",
                                                 "accept_sla_s": 600})
    receiver = start_partner(PartnerReceiver())
    registered = partners.register_partner(deps, cid, {"name": "洁净家政", "services": ["cleaning"],
                                                       "webhook_url": receiver.url})
    receiver.secret = registered.webhook_secret
    normalize.add(registered.partner.partner_id, "pid")
    login = identity.login_with_wechat(deps, f"{FakeWeChat.LOGIN_PREFIX}capacity-orderer")
    resident = Principal(role=Role.RESIDENT, subject=login.resident_id)
    identity.set_residence(deps, resident, {"community_id": cid, "building": "3", "room": "502"})
    identity.bind_phone(deps, resident, f"{FakeWeChat.PHONE_PREFIX}{ORDER_PHONE}")
    normalize.add(login.resident_id, "rid")
    harness.downstream(Run(0))
    run = Run(n)
    try:
        for i in range(n + 1):  # the first warms the caches (offer terms, the community's partners)
            target = run if i else Run(1)
            with harness.phase(target, "api"):
                order = orders.place_order(deps, resident, {"service_id": "cleaning"}, f"capacity-{i}").order
            normalize.add(order.order_id, "oid")
            harness.downstream(target)
            with harness.phase(target, "api"):  # the verified WeChat Pay callback
                order_payments.paid(deps, str(order.out_trade_no), f"wx-{i}", order.amount_fen, f"wxpay:n-{i}")
            harness.downstream(target)
            for event in ({"type": "accept", "eta_minutes": 20}, {"type": "start"}, {"type": "complete"}):
                with harness.phase(target, "api"):
                    order_flow.worker_event(deps, partners.authenticate(deps, registered.api_key),
                                            order.order_id, event)
                harness.downstream(target)
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
    assert len(receiver.received) >= n and not receiver.refused, (len(receiver.received), receiver.refused)
    attempts = run.phases.get("webhook-deliveries", Tally())
    return {"order_lifecycle": run,
            "webhook_attempt": Run(max(1, attempts.records), {"webhook-deliveries": attempts})}


def measure_runs(n: int = N) -> tuple[dict[str, Run], Normalizer]:
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from chalicelib import bootstrap
    from chalicelib.observability import logger
    from chalicelib.settings import Settings
    from localcloud import moto_patches
    from localcloud.resources import create_resources
    from tests.support.fakes import FakeWeChat

    moto_patches.install()
    meter, out = Meter(), io.StringIO()
    with (environment(), meter.installed(), mock_aws(), contextlib.redirect_stdout(out),
          warnings.catch_warnings()):
        warnings.simplefilter("ignore")  # powertools: "No application metrics to publish"
        parameters.clear_caches()
        resources = create_resources(None, REGION)
        deps = bootstrap.build(Settings.from_env({**resources.environment, "AWS_DEFAULT_REGION": REGION}))
        deps.wechat = FakeWeChat()
        bootstrap.override(deps)
        level, handler = logger.log_level, logger.registered_handler
        logger.setLevel("INFO")
        stream = handler.setStream(out) if isinstance(handler, logging.StreamHandler) else None
        harness = Harness(deps, meter, out)
        try:
            runs = _devices(harness, n)
            runs.update(_orders(harness, max(2, n // 4)))
            from chalicelib.adapters.dynamo import keys

            pk, sk = keys.device(DEVICES["heartbeat"][1])
            ITEMS["device_item_bytes"] = float(item_size(meter.lookup("linli-hub", {"pk": {"S": pk}, "sk": {"S": sk}})))
        finally:
            if stream is not None:
                handler.setStream(stream)  # type: ignore[attr-defined]
            logger.setLevel(level)
            bootstrap.override(None)
            parameters.clear_caches()
    return runs, harness.meter_names


def per_message(run: Run) -> dict[str, float]:
    tallies, n = list(run.phases.values()), run.messages

    def total(get: Any) -> float:
        return float(sum(get(t) for t in tallies)) / n

    return {
        "ddb_requests": round(total(lambda t: sum(t.requests.values())), 2),
        "rru": round(total(lambda t: t.rru), 2), "wru": round(total(lambda t: t.wru), 2),
        "gsi_wru": round(total(lambda t: t.gsi_wru), 2), "outbox": round(total(lambda t: t.outbox), 2),
        "sns": round(total(lambda t: t.sns), 2), "sms": round(total(lambda t: t.sms), 2),
        "sqs_sent": round(total(lambda t: sum(t.sqs.values())), 2), "iot_cmds": round(total(lambda t: t.iot), 2),
        "records": round(total(lambda t: t.records), 2), "log_bytes": round(total(lambda t: t.log_b)),
        "stored_bytes": round(total(lambda t: t.stored_b)), "ttl_byte_days": round(total(lambda t: t.ttl_byte_days)),
    }


def measure(n: int = N) -> dict[str, float]:
    runs, normalize = measure_runs(n)
    MEASURED.clear()
    RECORDS.clear()
    PARTITIONS.clear()
    for name, run in runs.items():
        MEASURED[name] = per_message(run)
        RECORDS[name] = {phase: round(t.records / run.messages, 2) for phase, t in run.phases.items()}
        shapes: defaultdict[str, float] = defaultdict(float)
        for tally in run.phases.values():
            for key, units in tally.partitions.items():
                op, table, raw = key.split(" ", 2)
                shapes[f"{op} {table} {normalize(raw)}"] += units
        PARTITIONS[name] = {k: round(v / run.messages, 2) for k, v in sorted(shapes.items())}
    return {f"cu_{name}_{key}": row[key] for name, row in MEASURED.items()
            for key in ("ddb_requests", "rru", "wru", "gsi_wru")}


def print_table() -> None:
    columns = list(next(iter(MEASURED.values())))
    print(f"{'per message':<18}" + "".join(f"{c[:13]:>14}" for c in columns))
    for name, row in MEASURED.items():
        print(f"{name:<18}" + "".join(f"{row[c]:>14g}" for c in columns))
    for name, phases in RECORDS.items():
        print(f"  {name} records: " + ", ".join(f"{p} {v:g}" for p, v in phases.items()))
    for name, shapes in PARTITIONS.items():
        print(f"  {name} keys: " + ", ".join(f"{k} {v:g}" for k, v in shapes.items()))


def main(argv: list[str]) -> None:
    from bench import capacity_plan

    started = time.perf_counter()
    measure(int(argv[0]) if argv else N)
    print_table()
    print()
    capacity_plan.print_plan(capacity_plan.plan(MEASURED, RECORDS, PARTITIONS, ITEMS))
    print(f"[capacity] {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
