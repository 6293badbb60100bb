"""DynamoDB requests per device message on a warm container, counted with botocore event hooks."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def measure() -> dict[str, float]:
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        os.environ.setdefault(key, value)
    from moto import mock_aws

    from localcloud import moto_patches

    moto_patches.install()

    with mock_aws():
        from chalicelib import bootstrap
        from chalicelib.adapters.dynamo.models import HubItem
        from chalicelib.services import communities
        from chalicelib.settings import Settings
        from localcloud.resources import create_resources

        create_resources(None, "us-east-1")
        deps = bootstrap.build(Settings.from_env())
        bootstrap.override(deps)
        community = communities.create_community(deps, "bench")
        communities.register_device(deps, community.community_id, "bench-bin", "recycling_bin")

        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1

        HubItem._get_connection().connection.client.meta.events.register("before-call.dynamodb.*", count)
        from chalicelib.handlers.device_events import handle_device_events as handle

        def send(event_id: str) -> None:
            payload = json.dumps({"event_id": event_id, "ts": time.time_ns() // 1_000_000}).encode()
            import base64

            body = json.dumps({"payload_b64": base64.b64encode(payload).decode(), "client_id": "bench-bin",
                               "topic": f"dt/linli/{community.community_id}/bench-bin/heartbeat",
                               "received_at": time.time_ns() // 1_000_000})
            handle({"Records": [{"messageId": event_id, "body": body, "receiptHandle": "r",
                                 "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                                 "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:linli-device-events",
                                 "awsRegion": "us-east-1", "md5OfBody": ""}]})

        send("warmup")
        n = 50
        calls.clear()
        for i in range(n):
            send(f"new-{i}")
        new = dict(calls)
        calls.clear()
        for i in range(n):
            send(f"new-{i}")
        dup = dict(calls)
        bootstrap.override(None)

    def per(counts: dict[str, int], writes_only: bool) -> float:
        return sum(v for k, v in counts.items() if not writes_only or k in WRITE_OPS) / n

    return {"ddb_requests_per_heartbeat": per(new, False), "ddb_writes_per_heartbeat": per(new, True),
            "ddb_requests_per_duplicate": per(dup, False), "ddb_writes_per_duplicate": per(dup, True)}
