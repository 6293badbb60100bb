"""IoT rule actions for the local gateway: where a rule's output goes (SQS, with IoT's error action)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from localcloud.broker import DeliverFn, RuleDeliveryError


def sqs_target(sqs_client: Any, queue_url: str, error_queue_url: str | None) -> DeliverFn:
    """The IoT SQS action with its error action: send the JSON-encoded rule output to ``queue_url``; on
    failure send IoT's error-action record to ``error_queue_url`` and raise :class:`RuleDeliveryError` so
    the gateway counts and logs the failure.

    The record mirrors IoT's (``ruleName``, ``topic``, ``clientId``, ``base64OriginalPayload``,
    ``failures``); topic, client id and payload come from the rule output's ``topic``, ``client_id`` and
    ``payload_b64`` fields (the hub's rules select all three).
    """

    def deliver(rule_name: str, message: dict[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        try:
            sqs_client.send_message(QueueUrl=queue_url, MessageBody=body)
            return
        except Exception as exc:
            failure = exc
        if not error_queue_url:
            raise RuleDeliveryError(f"SQS send to {queue_url} failed: {failure}; no error action") from failure
        record = {
            "ruleName": rule_name,
            "topic": message.get("topic", ""),
            "cloudwatchTraceId": str(uuid.uuid4()),
            "clientId": message.get("client_id", ""),
            "base64OriginalPayload": message.get("payload_b64") or base64.b64encode(body.encode()).decode("ascii"),
            "failures": [
                {
                    "failedAction": "SqsAction",
                    "failedResource": queue_url,
                    "errorMessage": f"Failed to send message to SQS queue. The error received was {failure}",
                }
            ],
        }
        try:
            sqs_client.send_message(QueueUrl=error_queue_url, MessageBody=json.dumps(record))
        except Exception as exc:
            raise RuleDeliveryError(
                f"SQS send to {queue_url} failed: {failure}; error action to {error_queue_url} failed too: {exc}"
            ) from failure
        raise RuleDeliveryError(
            f"SQS send to {queue_url} failed: {failure}; error record sent to {error_queue_url}"
        ) from failure

    return deliver
