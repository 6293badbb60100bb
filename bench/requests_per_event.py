"""DynamoDB requests per device message on a warm container, counted with botocore event hooks.

Runs the real queue handler (``handle_device_events``) in this process against moto (decorator mode),
with the app's own composition root. Every DynamoDB API call of every botocore session is counted by a
``before-call.dynamodb`` hook (registered as a botocore built-in handler, so each PynamoDB connection's
session gets it too). Two kinds of message:

* heartbeats (recorded only): N new, then the same N again (duplicates);
* weigh-ins: prices set, the daily cap raised, one resident logged in (WeChat faked) with the phone the
  bin weighs for bound, so each credit lands in a wallet (the full transaction: dedupe marker, device,
  transfer, two entries, two balances, weigh-in record, cap counter, phone check, outbox event). N new
  weigh-ins (distinct event ids), then the same N again.

One message of each kind warms the container first (secrets, the community's prices in the terms cache).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
PRICES = {"paper": 80, "plastic": 120, "metal": 200, "bottle": 50, "textile": 30}
PHONE = "13800138000"
#: after :func:`measure`: per message kind, DynamoDB operations per message (for the table)
OPERATIONS: dict[str, dict[str, float]] = {}


@contextlib.contextmanager
def _count_dynamodb_calls() -> Iterator[Counter[str]]:
    from botocore import handlers

    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    hook = ("before-call.dynamodb", count)
    handlers.BUILTIN_HANDLERS.append(hook)
    try:
        yield calls
    finally:
        handlers.BUILTIN_HANDLERS.remove(hook)


def recycling_resident(deps: Any, cid: str, name: str, phone: str = PHONE) -> str:
    """The community's prices set and its daily cap raised, and a resident (WeChat faked) with ``phone``
    bound, so weigh-ins for that phone credit a wallet. Returns the resident's id."""
    from chalicelib.domain.identity import Principal, Role
    from chalicelib.services import identity, recycling
    from tests.support.fakes import FakeWeChat

    recycling.set_prices(deps, cid, PRICES)
    recycling.change_settings(deps, cid, {"daily_cap_fen": 1_000_000})
    login = identity.login_with_wechat(deps, f"{FakeWeChat.LOGIN_PREFIX}{name}")
    identity.bind_phone(deps, Principal(role=Role.RESIDENT, subject=login.resident_id),
                        f"{FakeWeChat.PHONE_PREFIX}{phone}")
    return login.resident_id


def _per(counts: dict[str, int], n: int, ops: set[str] | None = None) -> float:
    return round(sum(v for k, v in counts.items() if ops is None or k in ops) / n, 3)


def measure(n: int = 50) -> dict[str, float]:
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        os.environ.setdefault(key, value)
    from moto import mock_aws

    from localcloud import moto_patches

    moto_patches.install()

    # the handler's metrics are printed (EMF) to stdout: keep them out of the benchmark's output
    with _count_dynamodb_calls() as calls, mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        from chalicelib import bootstrap
        from chalicelib.domain import ledger
        from chalicelib.handlers.device_events import handle_device_events as handle
        from chalicelib.services import communities
        from chalicelib.settings import Settings
        from localcloud.resources import create_resources
        from tests.support import events
        from tests.support.fakes import FakeWeChat

        create_resources(None, "us-east-1")
        deps = bootstrap.build(Settings.from_env())
        deps.wechat = FakeWeChat()
        bootstrap.override(deps)
        try:
            cid = communities.create_community(deps, "bench").community_id
            communities.register_device(deps, cid, "bench-meter", "electricity_meter")
            communities.register_device(deps, cid, "bench-bin", "recycling_bin")
            resident_id = recycling_resident(deps, cid, "bench-resident")

            def send(thing: str, kind: str, event_id: str, **fields: Any) -> None:
                now = time.time_ns() // 1_000_000
                payload = {"event_id": event_id, "ts": now - 1_000, **fields}
                result = handle(events.sqs_device_event(payload, events.topic(cid, thing, kind), thing, now))
                assert not result["batchItemFailures"], result

            def send_heartbeat(event_id: str) -> None:
                send("bench-meter", "heartbeat", event_id)

            def send_weighin(event_id: str) -> None:
                send("bench-bin", "weighin", event_id, category="paper", weight_g=1000 + len(event_id),
                     phone=PHONE)

            counts: dict[str, dict[str, int]] = {}
            for name, message in (("heartbeat", send_heartbeat), ("weighin", send_weighin)):
                message("warmup")
                calls.clear()
                for i in range(n):
                    message(f"new-{i}")
                counts[name] = dict(calls)
                calls.clear()
                for i in range(n):
                    message(f"new-{i}")
                counts[f"{name}_duplicate"] = dict(calls)
            [(credited, _)] = deps.ledger.balances([ledger.wallet(resident_id)]).values()
        finally:
            bootstrap.override(None)
    assert credited > 0, "the weigh-ins credited nothing"
    OPERATIONS.clear()
    OPERATIONS.update({name: {op: round(v / n, 3) for op, v in sorted(ops.items())} for name, ops in counts.items()})
    weighin, duplicate = counts["weighin"], counts["weighin_duplicate"]
    return {
        "ddb_requests_per_weighin": _per(weighin, n), "ddb_writes_per_weighin": _per(weighin, n, WRITE_OPS),
        "ddb_reads_per_weighin": _per(weighin, n, READ_OPS),
        "ddb_requests_per_duplicate": _per(duplicate, n), "ddb_writes_per_duplicate": _per(duplicate, n, WRITE_OPS),
        "ddb_requests_per_heartbeat": _per(counts["heartbeat"], n),
        "ddb_writes_per_heartbeat": _per(counts["heartbeat"], n, WRITE_OPS),
        "ddb_requests_per_heartbeat_duplicate": _per(counts["heartbeat_duplicate"], n),
        "ddb_writes_per_heartbeat_duplicate": _per(counts["heartbeat_duplicate"], n, WRITE_OPS),
    }
