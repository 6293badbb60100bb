"""The Lambda entry point IoT Core calls before it provisions a device (payload version 2020-04-01).

One consistent GetItem of the device; on the first acceptance one conditional UpdateItem that records the
certificate. Every decision is one JSON log line (reason, thing, community, certificate ids; never the
certificate PEM or the serial). An AWS error propagates: IoT Core then refuses the device, which retries.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from linli_preprovision import hub, rules

_client: Any = None


def _dynamodb() -> Any:
    global _client
    if _client is None:
        _client = boto3.client("dynamodb")
    return _client


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    parsed = rules.parse_request(event)
    if isinstance(parsed, rules.Decision):
        decision, request = parsed, None
    else:
        request = parsed
        decision = decide(request, os.environ[hub.TABLE_ENV], _dynamodb(), time.time_ns() // 1_000_000)
    log(decision, request, event, context)
    return decision.response()


def decide(request: rules.Request, table: str, dynamodb: Any, now_ms: int) -> rules.Decision:
    answer = dynamodb.get_item(**hub.get_device_request(table, request.thing_name))
    decision = rules.decide(request, hub.registered(answer.get("Item")))
    if not decision.record:
        return decision
    try:
        dynamodb.update_item(**hub.record_certificate_request(table, request.thing_name, request.certificate_id,
                                                              now_ms))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # disabled, or another certificate accepted, since the read: refuse (the device may retry)
        return rules.deny("provisioning_conflict", "the device changed while it was being provisioned")
    return decision


def log(decision: rules.Decision, request: rules.Request | None, event: Any, context: Any) -> None:
    """One JSON line on stdout (CloudWatch Logs keeps each line as one event)."""
    fields: dict[str, Any] = event if isinstance(event, dict) else {}
    parameters: dict[str, Any] = fields["parameters"] if isinstance(fields.get("parameters"), dict) else {}
    line = {
        "level": "INFO" if decision.allow else "WARNING",
        "message": "provisioning allowed" if decision.allow else "provisioning denied",
        "service": "linli-preprovision",
        "allow": decision.allow,
        "reason": decision.reason,
        "detail": decision.detail,
        "thing_name": request.thing_name if request else _printable(parameters.get(rules.THING_NAME_PARAM)),
        "community_id": request.community_id if request else _printable(parameters.get(rules.COMMUNITY_PARAM)),
        "certificate_id": _printable(fields.get("certificateId")),
        "claim_certificate_id": _printable(fields.get("claimCertificateId")),
        "client_id": _printable(fields.get("clientId")),
        "request_id": getattr(context, "aws_request_id", None),
    }
    sys.stdout.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _printable(value: Any, limit: int = 128) -> str | None:
    """A value a device sent, safe to log: a string, cut short (an attacker chooses its length)."""
    return value[:limit] if isinstance(value, str) else None
