"""The 160,000-community plan (docs/capacity.md) from measured units and stated assumptions.

``python -m bench.capacity_plan`` measures (``bench.capacity_units``, ~30 s) and prints the plan. Every
assumption is a constant here; every per-message figure comes from the measurement. Prices: AWS
us-east-1 on-demand list prices as of mid-2025 (re-check before use; China regions bill in CNY at
other prices and some services differ there). Units: /s are platform-wide unless named per community.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

# ---------------------------------------------------------------- assumptions (docs/capacity.md table)
COMMUNITIES = 160_000  # China's urban communities (社区), end of 2020
HOUSEHOLDS = 1_000  # per community
DEVICES = {"meter": 2 * HOUSEHOLDS, "recycling_bin": 10, "trash_bin": 40, "door": 12, "irrigation": 8,
           "security_panel": 60}  # per community; bench/community_day.py's 500-household mix, doubled
HEARTBEAT_S = 300  # every device, DESIGN §5 heartbeat_interval_s default
METER_PER_DAY, FILL_PER_DAY, SOIL_PER_DAY = 96, 48, 48  # every 15 min / 30 min / 30 min (community_day)
ACCESS_PER_HOUSEHOLD_DAY = 3  # community_day
WEIGHINS_PER_HOUSEHOLD_DAY = 0.5
DUPLICATE_SHARE = 0.01  # of weigh-ins, redelivered (at least once)
SECURITY_PER_PANEL_DAY = 20
ORDERS_PER_HOUSEHOLD_MONTH = 1.0
WITHDRAWALS_PER_HOUSEHOLD_MONTH = 1.0
API_READS_PER_HOUSEHOLD_DAY = 2.0  # wallet, orders, notices … besides the measured order calls
USAGE_DAY_ITEM_B, USAGE_TTL_DAYS = 300, 400  # a household's usage day per unit (h00–h23), kept 400 d
API_READ_RRU = 1.5  # assumed per such read (one consistent item or a short query)
PEAK_HOUR_SHARE = 0.12  # of a human-driven day's events in the evening peak hour
PEAK = PEAK_HOUR_SHARE * 24  # → 2.88 × the day's average rate; machine-driven kinds stay flat
HUMAN = {"weighin", "weighin_duplicate", "access_granted", "security_disarmed", "order_lifecycle"}
SMS_SHARE = 1.0  # of resident notifications that fall back to SMS (no subscribe allowance: as measured)
# Lambda: 512 MB; duration = 20 ms per invocation + 8 ms per DynamoDB request + 3 ms per record
MEMORY_GB, INVOKE_MS, DDB_MS, RECORD_MS, API_MS = 0.5, 20.0, 8.0, 3.0, 30.0
BATCH = 10  # SQS event sources (app.py batch_size); the outbox stream takes 100
PLATFORM_LOG_B = 350  # Lambda's START/END/REPORT lines per invocation
MONTH_S = 30.4 * 86_400
# ---------------------------------------------------------------- prices, USD, us-east-1 list (mid-2025)
PRICE = {"wru": 0.625e-6, "rru": 0.125e-6, "ddb_gb": 0.25, "pitr_gb": 0.20, "iot_conn_min": 0.08e-6,
         "iot_rule": 0.15e-6, "iot_action": 0.15e-6, "sqs": 0.40e-6, "sns": 0.50e-6, "lambda_req": 0.20e-6,
         "gb_s": 0.0000166667, "logs_gb": 0.50, "apigw": 3.50e-6,
         "sms": 0.02}  # SMS to mainland numbers: a placeholder to re-check (domestic SMS is ~0.04 CNY)
IOT_MESSAGE_TIERS = [(1e9, 1.00e-6), (4e9, 0.80e-6), (float("inf"), 0.70e-6)]  # per month
LIMITS = {"iot_publish_s": 20_000, "iot_connect_s": 500, "iot_rules_s": 20_000, "lambda_concurrency": 1_000,
          "ddb_table_wru_s": 40_000, "ddb_table_rru_s": 40_000, "partition_wcu_s": 1_000, "partition_rcu_s": 3_000,
          "apigw_rps": 10_000, "wechat_transfer_rps": 100}  # account / region defaults (docs/capacity.md)


#: design levers (docs/capacity.md), estimates not measurements: a heartbeat as one conditional UpdateItem of
#: last_seen (no dedupe marker, no gsi1 rewrite); a meter reading with the 48 h window kept as small items
#: (the cost measured on a fresh window); meters heartbeat only when a reading is late; no SMS for credits
LEVERS = {"heartbeat": {"rru": 0.0, "wru": 1.0, "gsi_wru": 0.0}, "meter": {"rru": 4.0, "wru": 8.0, "gsi_wru": 1.0},
          "weighin": {"sms": 0.0}}


def daily_per_community(levers: bool = False) -> dict[str, float]:
    """Messages (and orders) per community per day, by measured kind."""
    weighins = HOUSEHOLDS * WEIGHINS_PER_HOUSEHOLD_DAY
    heartbeating = sum(DEVICES.values()) - (DEVICES["meter"] if levers else 0)
    return {"heartbeat": heartbeating * 86_400 / HEARTBEAT_S,
            "meter": DEVICES["meter"] * METER_PER_DAY, "fill_below": DEVICES["trash_bin"] * FILL_PER_DAY,
            "soil_no_water": DEVICES["irrigation"] * SOIL_PER_DAY,
            "access_granted": HOUSEHOLDS * ACCESS_PER_HOUSEHOLD_DAY,
            "security_disarmed": DEVICES["security_panel"] * SECURITY_PER_PANEL_DAY,
            "weighin": weighins, "weighin_duplicate": weighins * DUPLICATE_SHARE,
            "order_lifecycle": HOUSEHOLDS * ORDERS_PER_HOUSEHOLD_MONTH * 12 / 365}


TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"


def rules_per_message(template: Path = TEMPLATE) -> int:
    """Topic rules whose FROM filter a device topic matches (each is metered as triggered, WHERE or not)."""
    resources = yaml.safe_load(template.read_text(encoding="utf-8"))["Resources"]
    topic = ["dt", "linli", "c", "t", "weighin"]
    matched = 0
    for resource in resources.values():
        if resource.get("Type") != "AWS::IoT::TopicRule":
            continue
        found = re.search(r"FROM '([^']+)'", resource["Properties"]["TopicRulePayload"]["Sql"])
        pattern = found.group(1).split("/") if found else []
        if pattern[-1:] == ["#"]:
            pattern, topic_part = pattern[:-1], topic[:len(pattern) - 1]
        elif len(pattern) == len(topic):
            topic_part = topic
        else:
            continue
        matched += all(p in ("+", t) for p, t in zip(pattern, topic_part, strict=True))
    return matched


def _iot_messages_cost(per_month: float) -> float:
    cost, left = 0.0, per_month
    for size, price in IOT_MESSAGE_TIERS:
        used = min(left, size)
        cost, left = cost + used * price, left - used
    return cost


def plan(measured: dict[str, dict[str, float]], records: dict[str, dict[str, float]],
         partitions: dict[str, dict[str, float]] | None = None, items: dict[str, float] | None = None,
         levers: bool = False) -> dict[str, Any]:
    daily = daily_per_community(levers)
    peak = {k: (PEAK if k in HUMAN else 1.0) for k in daily}
    rate = {k: v * COMMUNITIES / 86_400 for k, v in daily.items()}  # platform, per second (average)
    rate_peak = {k: v * peak[k] for k, v in rate.items()}
    devices_kinds = [k for k in daily if k != "order_lifecycle"]
    m = {k: {**v, **(LEVERS.get(k, {}) if levers else {})} for k, v in measured.items()}

    def total(field: str, rates: dict[str, float]) -> float:
        return sum(rates[k] * m[k][field] for k in rates)

    wru_s = total("wru", rate) + total("gsi_wru", rate)
    wru_peak = total("wru", rate_peak) + total("gsi_wru", rate_peak)
    api_reads_s = COMMUNITIES * HOUSEHOLDS * API_READS_PER_HOUSEHOLD_DAY / 86_400
    rru_s = total("rru", rate) + api_reads_s * API_READ_RRU
    rru_peak = total("rru", rate_peak) + api_reads_s * PEAK * API_READ_RRU
    # Lambda: records per message by function; SQS-fed ones in batches of 10, API calls one each
    api_calls = {k: records[k].get("api", 0.0) for k in daily}
    queued = {k: m[k]["records"] - api_calls[k] for k in daily}

    def lambda_ms(k: str) -> float:
        return (DDB_MS * m[k]["ddb_requests"] + RECORD_MS * queued[k] + INVOKE_MS * queued[k] / BATCH
                + API_MS * api_calls[k])

    invocations_s = sum(rate[k] * (queued[k] / BATCH + api_calls[k]) for k in daily) + api_reads_s
    gb_s = sum(rate[k] * lambda_ms(k) for k in daily) / 1000 * MEMORY_GB + api_reads_s * API_MS / 1000 * MEMORY_GB
    concurrency_peak = sum(rate_peak[k] * lambda_ms(k) for k in daily) / 1000 + api_reads_s * PEAK * API_MS / 1000
    device_msgs_s = sum(rate[k] for k in devices_kinds)
    device_msgs_peak = sum(rate_peak[k] for k in devices_kinds)
    rules = rules_per_message()
    topic_publishes_s, sms_s = total("sns", rate), total("sms", rate) * SMS_SHARE
    sqs_s = (device_msgs_s * (1 + 2 / BATCH)  # the IoT rule's send, the mapping's receive + delete per batch
             + topic_publishes_s * (1 + 2 / BATCH) + total("sqs_sent", rate) * (1 + 2 / BATCH))
    log_gb_month = (total("log_bytes", rate) + invocations_s * PLATFORM_LOG_B) * MONTH_S / 1e9
    stored_gb_month = total("stored_bytes", rate) * MONTH_S / 1e9  # permanent growth per month
    ttl_gb = (total("ttl_byte_days", rate) * 86_400  # steady state of items with a TTL, + usage history
              + COMMUNITIES * HOUSEHOLDS * 2 * (USAGE_DAY_ITEM_B + 100) * USAGE_TTL_DAYS) / 1e9
    table_gb_12 = 12 * stored_gb_month + ttl_gb
    api_s = sum(rate[k] * api_calls[k] for k in daily) + api_reads_s  # API Gateway requests
    api_per_month = api_s * MONTH_S
    all_devices = sum(DEVICES.values()) * COMMUNITIES
    health_queries_s = COMMUNITIES * -(-sum(DEVICES.values()) // 100) / (5 * 60)  # pages of 100, every 5 min
    device_b = (items or {}).get("device_item_bytes", 400.0)
    health_rru_s = health_queries_s * math.ceil(100 * device_b / 4096) * 0.5
    reconcile_rru_s = table_gb_12 * 1e9 / 4096 * 0.5 / 3600  # ledger_audit scans the table hourly
    month = {  # USD per month
        "DynamoDB writes": wru_s * MONTH_S * PRICE["wru"],
        "DynamoDB reads (messages, API)": rru_s * MONTH_S * PRICE["rru"],
        "DynamoDB reads (health check, 5 min)": health_rru_s * MONTH_S * PRICE["rru"],
        "DynamoDB storage + PITR (month 12)": table_gb_12 * (PRICE["ddb_gb"] + PRICE["pitr_gb"]),
        "IoT Core messages": _iot_messages_cost(device_msgs_s * MONTH_S),
        "IoT Core connectivity": all_devices * MONTH_S / 60 * PRICE["iot_conn_min"],
        "IoT rules + actions": device_msgs_s * MONTH_S * (rules * PRICE["iot_rule"] + PRICE["iot_action"]),
        "SQS": sqs_s * MONTH_S * PRICE["sqs"],
        "SNS publishes": topic_publishes_s * MONTH_S * PRICE["sns"],
        "SMS (resident fallback)": sms_s * MONTH_S * PRICE["sms"],
        "Lambda requests + GB-s": invocations_s * MONTH_S * PRICE["lambda_req"] + gb_s * MONTH_S * PRICE["gb_s"],
        "CloudWatch Logs ingestion": log_gb_month * PRICE["logs_gb"],
        "API Gateway": api_per_month * PRICE["apigw"],
    }
    return {
        "device_msgs_per_s": device_msgs_s, "device_msgs_per_s_peak": device_msgs_peak,
        "per_community_msgs_per_s": device_msgs_s / COMMUNITIES,
        "share_heartbeat": rate["heartbeat"] / device_msgs_s, "share_meter": rate["meter"] / device_msgs_s,
        "wru_per_s": wru_s, "wru_per_s_peak": wru_peak, "rru_per_s": rru_s, "rru_per_s_peak": rru_peak,
        "wru_per_month": wru_s * MONTH_S, "rru_per_month": rru_s * MONTH_S,
        "wru_per_community_s_peak": wru_peak / COMMUNITIES,
        "tables_at_default_limit": wru_peak / LIMITS["ddb_table_wru_s"],
        "outbox_writes_per_s": total("outbox", rate),
        "lambda_invocations_per_s": invocations_s, "lambda_gb_s_per_month": gb_s * MONTH_S,
        "lambda_concurrency_peak": concurrency_peak,
        "iot_rules_per_message": rules, "iot_messages_per_month": device_msgs_s * MONTH_S,
        "iot_accounts_for_publish_limit": device_msgs_peak / LIMITS["iot_publish_s"],
        "devices": all_devices, "sqs_requests_per_s": sqs_s, "sns_publishes_per_s": topic_publishes_s,
        "sms_per_month": sms_s * MONTH_S, "log_gb_per_month": log_gb_month,
        "table_gb_growth_per_month": stored_gb_month, "table_gb_ttl_steady": ttl_gb, "table_gb_month_12": table_gb_12,
        "api_requests_per_s_peak": api_s * PEAK,
        "wechat_transfers_per_s_peak": COMMUNITIES * HOUSEHOLDS * WITHDRAWALS_PER_HOUSEHOLD_MONTH
        * 12 / 365 / 86_400 * PEAK,
        "health_check_queries_per_s": health_queries_s, "health_check_rru_per_s": health_rru_s,
        "reconcile_scan_rru_per_s_month_12": reconcile_rru_s,
        "cost_per_month": dict(sorted(month.items(), key=lambda kv: -kv[1])),
        "cost_total_per_month": sum(month.values()),
        "hot_partitions_peak": hot_partitions(partitions or {}, rate_peak),
    }


def hot_partitions(partitions: dict[str, dict[str, float]], rate_peak: dict[str, float],
                   top: int = 8) -> dict[str, float]:
    """Units/s at peak on ONE partition of each key shape that a whole community (or the platform) shares;
    shapes keyed by one device, resident, order or event are left out (each sees ≤ its own few msgs/s)."""
    from chalicelib.domain import ledger

    per_key: dict[str, float] = {}
    for kind, shapes in partitions.items():
        for shape, units in shapes.items():
            finer = re.search(r"\{(thing|rid|phone|oid|pid|id)\}", shape.split(" ", 2)[2])
            if finer or kind not in rate_peak:
                continue
            shards = 1
            if "{n}" in shape:
                shards = ledger.EXPENSE_SHARDS if "{cid}" in shape else (
                    ledger.PAID_OUT_SHARDS if "order_payments" in shape else 4)
            scope = rate_peak[kind] / COMMUNITIES if "{cid}" in shape else rate_peak[kind]
            per_key[shape] = per_key.get(shape, 0.0) + scope * units / shards
    return dict(sorted(per_key.items(), key=lambda kv: -kv[1])[:top])


def _fmt(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def print_plan(result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for name, v in value.items():
                print(f"  {name:<48} {_fmt(v):>16}")
        else:
            print(f"{key:<50} {_fmt(value):>16}")


if __name__ == "__main__":
    from bench import capacity_units

    capacity_units.measure(int(sys.argv[1]) if len(sys.argv) > 1 else capacity_units.N)
    capacity_units.print_table()
    for with_levers in (False, True):
        print(f"==== plan {'with the levers' if with_levers else 'as built'}")
        print_plan(plan(capacity_units.MEASURED, capacity_units.RECORDS, capacity_units.PARTITIONS,
                        capacity_units.ITEMS, levers=with_levers))
