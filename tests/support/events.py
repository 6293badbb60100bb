"""The sample events in ``events/`` (living documentation), and builders of Lambda events from them."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
#: DESIGN §5 device message kinds; ``events/devices/<kind>.json`` holds one valid payload of each
DEVICE_KINDS = ("weighin", "fill", "meter", "access", "soil", "security", "heartbeat")

_message_ids = itertools.count(1)


def load(name: str) -> dict[str, Any]:
    """``load("devices/weighin")`` or ``load("lambda/scheduled")``: a fresh copy of that sample."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def device_payload(kind: str, **changes: Any) -> dict[str, Any]:
    """The sample payload of ``kind`` with some fields changed."""
    return {**load(f"devices/{kind}"), **changes}


def topic(community_id: str, thing_name: str, kind: str) -> str:
    return f"dt/linli/{community_id}/{thing_name}/{kind}"


def envelope(payload: dict[str, Any] | str | bytes, topic: str, client_id: str | None,
             received_at: int) -> str:
    """What the IoT topic rule puts on the queue (its SELECT in infra/template.yaml), as the SQS body."""
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(",", ":"))
    raw = payload.encode() if isinstance(payload, str) else payload
    return json.dumps({"payload_b64": base64.b64encode(raw).decode(), "topic": topic, "client_id": client_id,
                       "received_at": received_at}, separators=(",", ":"))


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """One SQS record shaped like the sample's, carrying ``body``."""
    record: dict[str, Any] = copy.deepcopy(load("lambda/sqs_device_event")["Records"][0])
    record["messageId"] = message_id or f"00000000-0000-4000-8000-{next(_message_ids):012d}"
    record["receiptHandle"] = "receipt-" + record["messageId"]
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_device_event(payload: dict[str, Any] | str | bytes, topic: str, client_id: str | None,
                     received_at: int) -> dict[str, Any]:
    """A one-record SQS event carrying one device message."""
    return sqs_event(sqs_record(envelope(payload, topic, client_id, received_at)))


def outbox_insert(event_type: str, community_id: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """The sample outbox stream INSERT, for another event (``data`` stored as JSON text, as PynamoDB does)."""
    event = load("lambda/outbox_stream_insert")
    record = event["Records"][0]["dynamodb"]
    pk = f"EVT#{event_type}#{key}"
    record["Keys"]["pk"] = {"S": pk}
    image = record["NewImage"]
    image["pk"] = {"S": pk}
    image["event_type"] = {"S": event_type}
    image["community_id"] = {"S": community_id}
    image["data"] = {"S": json.dumps(data, separators=(",", ":"))}
    return event
