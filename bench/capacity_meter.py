"""What each AWS call would be billed, computed around moto: DynamoDB request units, storage, messages.

``Meter.installed()`` wraps ``botocore.client.BaseClient._make_api_call`` (every boto3 client and every
PynamoDB connection goes through it) and charges each call to the current :class:`Tally`. For DynamoDB
the touched items are looked up in moto's backend directly (a Python call, not a request) before and
after the call. The rules (DynamoDB's documented ones; approximations in ``bench/capacity_units.py``):

* item size = Σ (UTF-8 length of the attribute name + size of the value): strings and binary by length,
  numbers 1 byte per 2 significant digits + 1, booleans/null 1, lists and maps 3 + 1 per element + the
  elements (map keys by length);
* reads: GetItem / BatchGetItem ceil(size / 4 KB) per item (a missing item costs 1), × 0.5 unless
  ``ConsistentRead``; TransactGetItems 2 ×; Query / Scan Σ size returned, rounded up to 4 KB once per
  request, × 0.5 unless consistent (GSI queries always are eventually consistent);
* writes: Put / Update / Delete ceil(max(before, after) / 1 KB), at least 1; TransactWriteItems 2 × per
  action (ConditionCheck included); a refused condition is charged as if written;
* GSI writes (standard): per index of the table, entering ceil(after), leaving ceil(before), key change
  both, any other change ceil(after) (``ALL`` projection: every attribute is projected), none if equal;
* storage: Δ (size + 100 bytes) in the table and in every index the item is in; items carrying
  ``expires_at`` are counted as byte-days until it, the rest as permanent bytes.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

REGION, ACCOUNT = "us-east-1", "123456789012"
ITEM_OVERHEAD_B = 100
READ_OPS = ("GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan")
Snapshot = list[tuple[str, str, dict[str, Any], int, dict[str, Any] | None]]


def _value_size(value: Any) -> int:
    from moto.dynamodb.models.dynamo_type import DynamoType

    typed = value if isinstance(value, DynamoType) else DynamoType(value)
    kind, raw = typed.type, typed.value
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else len(raw) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    return len(str(raw).encode())


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def item_size(attrs: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in (attrs or {}).items())


def read_units(size: int, consistent: bool) -> float:
    return math.ceil(max(size, 1) / 4096) * (1.0 if consistent else 0.5)


def write_units(size: int) -> int:
    return math.ceil(max(size, 1) / 1024)


@dataclass
class Tally:
    """What one phase (one Lambda function's share) of one message kind cost, over the whole run."""

    requests: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0  # base tables, transactions doubled
    gsi_wru: float = 0.0
    outbox: int = 0
    sns: int = 0  # topic publishes
    sms: int = 0  # SNS publishes to a phone number
    sqs: Counter[str] = field(default_factory=Counter)  # queue → messages sent
    iot: int = 0  # IoT Data publishes (device commands)
    stored_b: float = 0.0  # permanent bytes (table + index entries)
    ttl_byte_days: float = 0.0
    partitions: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # "W hub ACCT#…" → units
    log_b: int = 0
    records: int = 0  # records the phase's function handled


class Normalizer:
    """A raw key → its shape: ids this run created become ``{cid}``, ``{thing}`` …, others ``{id}``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def add(self, value: str, name: str) -> None:
        self.names[value] = name

    def __call__(self, key: str) -> str:
        for value, name in sorted(self.names.items(), key=lambda kv: -len(kv[0])):
            key = key.replace(value, "{" + name + "}")
        return "#".join(":".join(self._word(w) for w in part.split(":")) for part in key.split("#"))

    @staticmethod
    def _word(word: str) -> str:
        if re.fullmatch(r"[A-Za-z_.]*(\{[a-z]+\})?", word):
            return word
        if re.fullmatch(r"\d{1,2}", word):
            return "{n}"
        return "{day}" if re.fullmatch(r"\d{8}", word) else "{id}"


def _first_value(attr: Any) -> str:
    return str(next(iter(attr.values()))) if isinstance(attr, dict) else "?"


class Meter:
    """While ``current`` is set, every AWS call is charged to it."""

    def __init__(self) -> None:
        self.current: Tally | None = None
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Meter]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            tally = meter.current
            service = client.meta.service_model.service_name
            if tally is None or service != "dynamodb":
                if tally is not None:
                    meter._other(tally, service, operation, params)
                return original(client, operation, params)
            with meter.lock:
                before = meter._snapshot(operation, params)
            try:
                response = original(client, operation, params)
            except Exception as exc:  # a refused condition is billed too
                meter._charge(tally, operation, params, before, getattr(exc, "response", {}), failed=True)
                raise
            meter._charge(tally, operation, params, before, response, failed=False)
            return response

        BaseClient._make_api_call = metered  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    @staticmethod
    def _other(tally: Tally, service: str, operation: str, params: dict[str, Any]) -> None:
        queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        if service == "sns" and operation == "Publish":
            if "PhoneNumber" in params:
                tally.sms += 1
            else:
                tally.sns += 1
        elif service == "sns" and operation == "PublishBatch":
            tally.sns += len(params.get("PublishBatchRequestEntries", []))
        elif service == "sqs" and operation == "SendMessage":
            tally.sqs[queue] += 1
        elif service == "sqs" and operation == "SendMessageBatch":
            tally.sqs[queue] += len(params.get("Entries", []))
        elif service == "iot-data" and operation == "Publish":
            tally.iot += 1

    @staticmethod
    def _backend() -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[ACCOUNT][REGION]

    def lookup(self, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        table = self._backend().get_table(table_name)
        hash_key, range_key = self._backend().get_keys_value(table, key)
        item = table.get_item(hash_key, range_key)
        return None if item is None else {k: copy.deepcopy(v) for k, v in item.attrs.items()}

    def _key_of(self, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        table = self._backend().get_table(table_name)
        return {n: item[n] for n in (table.hash_key_attr, table.range_key_attr) if n and n in item}

    def _snapshot(self, operation: str, params: dict[str, Any]) -> Snapshot:
        """(action, table, key, requested size, item before) for every item a write touches."""
        found: list[tuple[str, str, dict[str, Any], int]] = []
        if operation == "PutItem":
            found.append(("Put", params["TableName"], self._key_of(params["TableName"], params["Item"]),
                          item_size(params["Item"])))
        elif operation in ("UpdateItem", "DeleteItem"):
            found.append((operation[:-4], params["TableName"], params["Key"], 0))
        elif operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((name, body),) = action.items()
                key = self._key_of(body["TableName"], body["Item"]) if name == "Put" else body["Key"]
                found.append((name, body["TableName"], key, item_size(body.get("Item"))))
        elif operation == "BatchWriteItem":
            for table_name, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        found.append(("Put", table_name, self._key_of(table_name, item), item_size(item)))
                    else:
                        found.append(("Delete", table_name, request["DeleteRequest"]["Key"], 0))
        return [(a, t, k, s, self.lookup(t, k)) for a, t, k, s in found]

    def _charge(self, tally: Tally, operation: str, params: dict[str, Any], before: Snapshot,
                response: dict[str, Any], failed: bool) -> None:
        with self.lock:
            tally.requests[operation] += 1
            if operation in READ_OPS:
                self._charge_read(tally, operation, params, response)
                return
            factor = 2 if operation == "TransactWriteItems" else 1
            now_s = time.time()
            for action, table_name, key, requested, old in before:
                new = old if failed else self.lookup(table_name, key)
                if table_name.endswith("outbox") and action == "Put" and not failed:
                    tally.outbox += 1
                units = factor * write_units(max(item_size(old), item_size(new), requested if failed else 0))
                tally.wru += units
                tally.partitions[f"W {table_name} {_first_value(key.get('pk'))}"] += units
                if not failed and action != "ConditionCheck":
                    indexes = self._indexes(table_name)
                    self._charge_indexes(tally, indexes, old, new)
                    self._charge_storage(tally, indexes, old, new, now_s)

    def _indexes(self, table_name: str) -> list[tuple[str, str, str | None]]:
        found = []
        for index in self._backend().get_table(table_name).global_indexes:
            schema = {s["KeyType"]: s["AttributeName"] for s in index.schema}
            found.append((index.name, schema["HASH"], schema.get("RANGE")))
        return found

    def _charge_indexes(self, tally: Tally, indexes: list[tuple[str, str, str | None]],
                        old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for name, hash_name, range_name in indexes:
            was, now = _entry(old, hash_name, range_name), _entry(new, hash_name, range_name)
            units = 0
            if was is not None and now != was:
                units += write_units(item_size(old))
            if now is not None and (now != was or _as_json(old) != _as_json(new)):
                units += write_units(item_size(new))
            if units:
                tally.gsi_wru += units
                tally.partitions[f"W {name} {_first_value((now or was or ({},))[0])}"] += units

    @staticmethod
    def _charge_storage(tally: Tally, indexes: list[tuple[str, str, str | None]], old: dict[str, Any] | None,
                        new: dict[str, Any] | None, now_s: float) -> None:
        for attrs, sign in ((old, -1), (new, 1)):
            if attrs is None:
                continue
            copies = 1 + sum(1 for _, h, r in indexes if _entry(attrs, h, r) is not None)
            stored = sign * (item_size(attrs) + ITEM_OVERHEAD_B) * copies
            if "expires_at" in attrs:
                tally.ttl_byte_days += stored * max(0.0, (float(attrs["expires_at"].value) - now_s) / 86400)
            else:
                tally.stored_b += stored

    def _charge_read(self, tally: Tally, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        if operation == "GetItem":
            self._read_item(tally, params["TableName"], params["Key"], bool(params.get("ConsistentRead")))
        elif operation == "BatchGetItem":
            for table_name, request in params["RequestItems"].items():
                for key in request["Keys"]:
                    self._read_item(tally, table_name, key, bool(request.get("ConsistentRead")))
        elif operation == "TransactGetItems":
            for action in params["TransactItems"]:
                self._read_item(tally, action["Get"]["TableName"], action["Get"]["Key"], True, factor=2)
        else:  # Query, Scan: what came back, scaled up by what a filter threw away
            items = response.get("Items", [])
            size: float = sum(item_size(i) for i in items)
            count, scanned = int(response.get("Count", len(items))), int(response.get("ScannedCount", len(items)))
            if scanned > count and count:
                size = size * scanned / count
            units = read_units(math.ceil(size), bool(params.get("ConsistentRead")) and "IndexName" not in params)
            values = params.get("ExpressionAttributeValues", {})
            partition = next((_first_value(v) for v in values.values() if "S" in v), "?")
            tally.rru += units
            tally.partitions[f"R {params.get('IndexName') or params['TableName']} {partition}"] += units

    def _read_item(self, tally: Tally, table_name: str, key: dict[str, Any], consistent: bool,
                   factor: int = 1) -> None:
        units = factor * read_units(item_size(self.lookup(table_name, key)), consistent)
        tally.rru += units
        tally.partitions[f"R {table_name} {_first_value(key.get('pk'))}"] += units


def _entry(attrs: dict[str, Any] | None, hash_name: str, range_name: str | None) -> tuple[Any, ...] | None:
    """The item's key in an index, or None when it is not in it (sparse indexes)."""
    if attrs is None or hash_name not in attrs or (range_name and range_name not in attrs):
        return None
    return (attrs[hash_name].to_json(), attrs[range_name].to_json() if range_name else None)


def _as_json(attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if attrs is None else {k: v.to_json() for k, v in attrs.items()}
