"""End to end on localcloud: weigh-ins published over MQTT by 20 bins until every one is credited, the raw
moto TransactWriteItems ceiling beside it, and the same run again with 50,000 weigh-ins already stored.

One hub (``python -m localcloud up`` in a subprocess) serves the whole measurement:

1. setup through the API: 20 residents log in (WeChat sandbox) and bind phones 13800000000..19; a
   community with prices and ``daily_cap_fen`` raised to its maximum; 20 recycling bins;
2. timed run at an empty table: 2,000 weigh-ins (100 per bin, paho, QoS 1, each bin weighing for its
   own resident's phone, so every credit lands in a wallet and writes an outbox event that the stream
   pump fans out as a WeChat subscribe message); done when the admin ledger shows
   ``totals.credits == 2000``;
3. ceiling: one real weigh-in transaction is captured (the app's own ``credit_weighin`` run in this
   process against the hub's moto server, for a phone nobody bound: 10 items — seen marker, device
   update, transfer, two entries, two balance updates, weigh-in record, daily-cap update, phone
   condition check) and replayed from one client thread with fresh keys for a few seconds;
4. seeding: 50,000 weigh-ins written directly with BatchWriteItem (see :func:`seed_history`);
5. timed run again (a new community, new bins, the same residents), and the ceiling again.

The hub's CPU share during a timed run (CPU seconds per wall second) is reported too: the whole hub —
moto server, MQTT gateway, pumps, functions, API — is one Python process, so ~1.0 means it is bound by
one interpreter lock and more concurrency inside it would not go faster.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.hub import BenchHub, hub_or_own

PRICES = {"paper": 80, "plastic": 120, "metal": 200, "bottle": 50, "textile": 30}
BINS = 20
PER_BIN = 100
SEEDED = 50_000
REGION = "us-east-1"
DAY_MS = 24 * 3600 * 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Resident:
    resident_id: str
    phone: str
    token: str


# ------------------------------------------------------------------------------------------ setup
def bind_residents(hub: BenchHub, count: int) -> list[Resident]:
    residents = []
    for i in range(count):
        login = hub.call("POST", "/v1/auth/wechat", {"code": f"sandbox-bench-{i}"}, token=None)
        phone = f"138000000{i:02d}"
        hub.call("POST", "/v1/me/phone", {"code": f"sandbox-phone-{phone}"}, token=login["token"])
        residents.append(Resident(login["resident_id"], phone, login["token"]))
    return residents


def new_community(hub: BenchHub, name: str, bins: list[str]) -> str:
    cid = str(hub.call("POST", "/v1/admin/communities", {"name": name})["community_id"])
    hub.call("PUT", f"/v1/admin/communities/{cid}/recycling-prices", {"prices": PRICES})
    hub.call("PUT", f"/v1/admin/communities/{cid}/settings", {"daily_cap_fen": 1_000_000})
    for thing in bins:
        hub.call("POST", f"/v1/admin/communities/{cid}/devices", {"thing_name": thing, "type": "recycling_bin"})
    return cid


# -------------------------------------------------------------------------------------- timed run
def wallet_balances(client: Any, residents: list[Resident]) -> dict[str, int]:
    """Every resident's wallet balance, read straight from the hub's moto server in one BatchGetItem: a
    poll that costs the hub one cheap request (the admin ledger reads every entry of the community)."""
    from chalicelib.adapters.dynamo import keys
    from chalicelib.domain import ledger

    table = os.environ.get("LINLI_HUB_TABLE", "linli-hub")
    by_pk = {keys.account(ledger.wallet(r.resident_id).id): r.resident_id for r in residents}
    wanted = [{"pk": {"S": pk}, "sk": {"S": keys.BALANCE_SK}} for pk in by_pk]
    found = {r.resident_id: 0 for r in residents}
    request: dict[str, Any] = {table: {"Keys": wanted, "ConsistentRead": True}}
    while request:
        response = client.batch_get_item(RequestItems=request)
        for item in response["Responses"].get(table, []):
            found[by_pk[item["pk"]["S"]]] = int(item.get("balance_fen", {}).get("N", 0))
        request = response.get("UnprocessedKeys") or {}
    return found


@dataclass(frozen=True)
class Run:
    seconds: float
    #: CPU seconds the hub process used per wall second of the run (the GIL caps its Python at ~1.0)
    hub_cpu_share: float | None


def timed_run(hub: BenchHub, cid: str, bins: list[str], residents: list[Resident], per_bin: int,
              tag: str, timeout_s: float = 600) -> Run:
    """Publish ``per_bin`` weigh-ins from each bin (bin i weighs for resident i); seconds from the first
    publish until every wallet holds exactly what they credit. Checked afterwards with the admin ledger:
    ``per_bin * len(bins)`` credits in the community and its invariants hold."""
    client = dynamodb_client(hub)
    price = PRICES["paper"]
    before = wallet_balances(client, residents)
    expected = dict(before)
    payloads: list[tuple[Any, str, str]] = []
    clients = []
    connected = threading.Semaphore(0)
    for thing, resident in zip(bins, residents, strict=True):
        mqtt_client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing)
        mqtt_client.on_connect = lambda *_: connected.release()
        mqtt_client.connect_async("127.0.0.1", hub.mqtt_port)
        mqtt_client.loop_start()
        clients.append(mqtt_client)
        for n in range(per_bin):
            weight = 1000 + n
            expected[resident.resident_id] += weight * price // 1000  # floor, as the domain rounds
            payloads.append((mqtt_client, f"dt/linli/{cid}/{thing}/weighin", json.dumps(
                {"event_id": f"{tag}-{n:05d}", "ts": 0, "category": "paper", "weight_g": weight,
                 "phone": resident.phone})))
    total = len(bins) * per_bin
    payloads.sort(key=lambda p: p[2][p[2].index('"event_id"'):])  # round robin over the bins
    try:
        for _ in clients:
            if not connected.acquire(timeout=30):
                raise RuntimeError("an MQTT client did not connect")
        cpu_before = hub.cpu_seconds()
        started = time.perf_counter()
        for mqtt_client, topic, body in payloads:
            mqtt_client.publish(topic, body.replace('"ts": 0', f'"ts": {_now_ms()}'), qos=1)
        deadline = time.monotonic() + timeout_s
        balances = before
        while time.monotonic() < deadline:
            balances = wallet_balances(client, residents)
            if balances == expected:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        cpu_after = hub.cpu_seconds()
    finally:
        for mqtt_client in clients:
            mqtt_client.loop_stop()
            mqtt_client.disconnect()
    book = hub.call("GET", f"/v1/admin/communities/{cid}/ledger")
    if balances != expected or book["totals"]["credits"] != total or not book["invariants_ok"]:
        rejects = hub.call("GET", f"/v1/admin/communities/{cid}/rejects")["items"]
        log = hub.log_path.read_text(errors="replace").splitlines()
        raise RuntimeError(f"after {elapsed:.0f} s: ledger {book}; rejects: {rejects[:3]}\n" + "\n".join(log[-40:]))
    share = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / elapsed
    return Run(elapsed, share)


# ------------------------------------------------------------------------- the app, in this process
@contextlib.contextmanager
def app_against(hub: BenchHub) -> Iterator[Any]:
    """The hub's composition root built in this process against the hub's moto server (environment
    restored afterwards)."""
    env = {"AWS_ENDPOINT_URL": hub.aws, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "LINLI_STAGE": "local"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from aws_lambda_powertools.utilities import parameters

        from chalicelib import bootstrap
        from chalicelib.settings import Settings

        parameters.clear_caches()
        yield bootstrap.build(Settings.from_env())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dynamodb_client(hub: BenchHub) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=hub.aws, region_name=REGION, aws_access_key_id="local",
                        aws_secret_access_key="local",  # noqa: S106 - the local moto server
                        config=Config(max_pool_connections=16, retries={"max_attempts": 1}))


# -------------------------------------------------------------------------------------- ceiling
def capture_weighin_transaction(hub: BenchHub, cid: str, thing: str, phone: str) -> tuple[dict[str, Any], str, int]:
    """Run one real weigh-in credit in this process and keep its TransactWriteItems request."""
    from chalicelib.adapters.dynamo.models import HubItem
    from chalicelib.domain.device_messages import DeviceMessage, RawDeviceMessage, Weighin
    from chalicelib.services import recycling

    captured: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(json.loads(json.dumps(params)))

    with app_against(hub) as deps:
        client = HubItem._get_connection().connection.client
        client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", capture)
        try:
            received = _now_ms()
            event_id = "ceilingtemplate0000"
            reading = Weighin(category="paper", weight_g=1000, phone=phone)
            message = DeviceMessage(community_id=cid, thing_name=thing, kind="weighin", event_id=event_id,
                                    ts_ms=received - 1, received_at_ms=received, client_id=thing, reading=reading)
            raw = RawDeviceMessage(topic=f"dt/linli/{cid}/{thing}/weighin", payload="{}", client_id=thing,
                                   received_at_ms=received)
            result = recycling.credit_weighin(deps, message, raw)
        finally:
            client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", capture)
    assert result.outcome.value == "accepted", result
    assert len(captured) == 1, captured
    return captured[0], event_id, received


def txn_ceiling(hub: BenchHub, template: tuple[dict[str, Any], str, int], seconds: float, tag: str) -> dict[str, float]:
    """Replay the captured weigh-in transaction with fresh keys from one client thread for ``seconds``."""
    params, event_id, received = template
    text = json.dumps(params)
    assert text.count(str(received)) >= 3, "received_at must appear in the keys to be replaced"
    client = dynamodb_client(hub)
    items = len(params["TransactItems"])
    done = 0
    base = _now_ms() + 1000
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        # a later received_at each time: the device's last_seen condition (older never overwrites newer)
        fresh = text.replace(event_id, f"{tag}{done:015d}").replace(str(received), str(base + done))
        client.transact_write_items(**json.loads(fresh))
        done += 1
    elapsed = time.perf_counter() - started
    return {"txns": done, "items_per_txn": items, "per_s": done / elapsed}


# -------------------------------------------------------------------------------------- seeding
def seed_history(hub: BenchHub, deps: Any, residents: list[Resident], count: int, threads: int = 4) -> float:
    """Store ``count`` weigh-ins as if they had been credited over the past days, directly with
    BatchWriteItem: for each, exactly the items its transaction would have created — the seen marker,
    the weigh-in record (with its by-day index keys), the transfer and its two entries (community expense
    shard, resident wallet) — then, per account, one UpdateItem adding the total to its balance item and,
    per phone and day, the daily-cap counter. The weigh-ins belong to a "history" community with its own
    20 bins (not registered as devices: nothing reads them by device), for the same 20 residents the
    timed runs credit, spread over the preceding days (100 per bin per day). Outbox items are not seeded:
    the stream pump would deliver them all again, and in AWS they expire after 7 days anyway.
    Returns seconds taken."""
    from chalicelib.adapters.dynamo import keys
    from chalicelib.adapters.dynamo.devices import seen_item
    from chalicelib.adapters.dynamo.ledger import add_transfer
    from chalicelib.adapters.dynamo.recycling import DynamoRecyclingBook
    from chalicelib.domain import ledger
    from chalicelib.domain.device_messages import DeviceMessage, Weighin
    from chalicelib.domain.identity import mask_phone, phone_key
    from chalicelib.domain.recycling import WeighinRecord, china_day

    pepper = deps.secrets.app_secrets().phone_pepper
    dedupe_ttl_s = deps.recycling._dedupe_ttl_s
    cid = "history"
    table = os.environ.get("LINLI_HUB_TABLE", "linli-hub")
    price = PRICES["paper"]
    start_ms = _now_ms() - (count // (BINS * PER_BIN) + 2) * DAY_MS
    balances: dict[str, int] = {}
    caps: dict[tuple[str, str], int] = {}

    class Collect:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def save(self, item: Any, condition: Any = None) -> None:
            self.items.append(item)

        def update(self, item: Any, actions: Any, condition: Any = None) -> None:
            pass  # balances are added up below

    def items_of(i: int) -> list[dict[str, Any]]:
        resident = residents[i % len(residents)]
        thing = f"history-bin-{i % BINS:02d}"
        day_index = i // (BINS * PER_BIN)
        received = start_ms + day_index * DAY_MS + (i % (BINS * PER_BIN)) * 10
        event_id = f"h{i:07d}"
        key = phone_key(pepper, resident.phone)
        weight = 1000 + i % 100
        credit = weight * price // 1000
        business_key = f"{thing}:{event_id}"
        transfer = ledger.Transfer.for_event(
            ledger.TransferKind.RECYCLING_CREDIT, business_key, ledger.recycling_expense(cid, business_key),
            ledger.wallet(resident.resident_id), credit, received,
            memo={"community_id": cid, "thing_name": thing, "category": "paper", "weight_g": str(weight)})
        record = WeighinRecord(
            community_id=cid, thing_name=thing, event_id=event_id, category="paper", weight_g=weight,
            price_fen_per_kg=price, credit_fen=credit, ts_ms=received - 1000, received_at_ms=received,
            phone_key=key, phone_masked=mask_phone(resident.phone), resident_id=resident.resident_id,
            transfer_id=transfer.transfer_id)
        message = DeviceMessage(community_id=cid, thing_name=thing, kind="weighin", event_id=event_id,
                                ts_ms=received - 1000, received_at_ms=received, client_id=thing,
                                reading=Weighin(category="paper", weight_g=weight, phone=resident.phone))
        collect = Collect()
        collect.save(seen_item(message, dedupe_ttl_s))
        add_transfer(collect, transfer)  # type: ignore[arg-type]
        collect.save(DynamoRecyclingBook._weighin_item(record))
        for entry in transfer.entries():
            balances[entry.account.id] = balances.get(entry.account.id, 0) + entry.amount_fen
        day = china_day(received)
        caps[(key, day)] = caps.get((key, day), 0) + credit
        return [{"PutRequest": {"Item": item.serialize()}} for item in collect.items]

    client = dynamodb_client(hub)
    started = time.perf_counter()

    def write(batch: list[dict[str, Any]]) -> None:
        pending = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def batches() -> Iterator[list[dict[str, Any]]]:
        buffer: list[dict[str, Any]] = []
        for i in range(count):
            buffer.extend(items_of(i))
            while len(buffer) >= 25:
                yield buffer[:25]
                buffer = buffer[25:]
        if buffer:
            yield buffer

    with ThreadPoolExecutor(threads) as pool:
        in_flight: list[Any] = []
        for batch in batches():
            in_flight.append(pool.submit(write, batch))
            if len(in_flight) >= threads * 4:
                in_flight.pop(0).result()
        for future in in_flight:
            future.result()
    for account_id, amount in balances.items():
        client.update_item(
            TableName=table, Key={"pk": {"S": keys.account(account_id)}, "sk": {"S": keys.BALANCE_SK}},
            UpdateExpression="ADD balance_fen :a, version :n SET account_id = :id, #t = :t",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues={":a": {"N": str(amount)}, ":n": {"N": "1"}, ":id": {"S": account_id},
                                       ":t": {"S": "balance"}})
    for (key, day), amount in caps.items():
        pk, sk = keys.daily_cap(cid, key, day)
        client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}, "type": {"S": "cap"},
                                               "credited_fen": {"N": str(amount)}})
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------ measure
def _phase(label: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"  [recycling e2e] {label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def measure(hub: BenchHub | None = None, bins: int = BINS, per_bin: int = PER_BIN, seeded: int = SEEDED,
            ceiling_s: float = 4.0) -> dict[str, float]:
    """The whole measurement on ``hub`` (the caller stops it), or on a hub of its own."""
    with hub_or_own(hub) as own:
        return _measure(own, bins, per_bin, seeded, ceiling_s)


def _measure(hub: BenchHub, bins: int, per_bin: int, seeded: int, ceiling_s: float) -> dict[str, float]:
    results: dict[str, float] = {}
    residents = _phase("bind residents", lambda: bind_residents(hub, bins))
    things = [f"bench-bin-{i:02d}" for i in range(bins)]
    cid = _phase("community", lambda: new_community(hub, "bench", [*things, "ceiling-bin"]))
    run = _phase(f"{bins * per_bin} weigh-ins, empty table",
                 lambda: timed_run(hub, cid, things, residents, per_bin, "e"))
    template = capture_weighin_transaction(hub, cid, "ceiling-bin", "13999999999")
    ceiling = _phase("ceiling", lambda: txn_ceiling(hub, template, ceiling_s, "c"))
    results.update({
        "e2e_weighins": bins * per_bin,
        "e2e_weighins_per_s": round(bins * per_bin / run.seconds, 1),
        "e2e_hub_cpu_share": round(run.hub_cpu_share or 0.0, 2),
        "moto_txn_items": ceiling["items_per_txn"],
        "moto_txn_ceiling_per_s": round(ceiling["per_s"], 1),
    })
    results["e2e_ratio"] = round(results["e2e_weighins_per_s"] / results["moto_txn_ceiling_per_s"], 3)
    if not seeded:
        return results
    with app_against(hub) as deps:
        seed_s = _phase(f"seed {seeded} weigh-ins", lambda: seed_history(hub, deps, residents, seeded))
    things = [f"bench50k-bin-{i:02d}" for i in range(bins)]
    cid = new_community(hub, "bench-50k", things)
    run = _phase(f"{bins * per_bin} weigh-ins, {seeded} stored",
                 lambda: timed_run(hub, cid, things, residents, per_bin, "g"))
    ceiling = _phase(f"ceiling at {seeded}", lambda: txn_ceiling(hub, template, ceiling_s, "d"))
    results.update({
        "seed_weighins_per_s": round(seeded / seed_s),
        "e2e_weighins_per_s_at_50k": round(bins * per_bin / run.seconds, 1),
        "e2e_hub_cpu_share_at_50k": round(run.hub_cpu_share or 0.0, 2),
        "moto_txn_ceiling_per_s_at_50k": round(ceiling["per_s"], 1),
    })
    results["growth_ratio"] = round(results["e2e_weighins_per_s_at_50k"] / results["e2e_weighins_per_s"], 3)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
