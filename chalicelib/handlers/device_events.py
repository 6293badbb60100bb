"""The device-events queue (IoT rules → SQS → here): one record, one message, accepted or rejected.

A rejected message is a *successful* record (its reject is written); only unexpected failures —
DynamoDB throttling, a bug — are reported as batch item failures, so SQS redelivers them and, after
maxReceiveCount, moves them to the DLQ. (Cold start: handlers/sqs_batch.py imports powertools' batch
utility with the first batch, not with this module.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.domain.device_messages import RawDeviceMessage
from chalicelib.domain.rejects import Rejected
from chalicelib.handlers.device_messages import parse_envelope, parse_message
from chalicelib.handlers.sqs_batch import drain
from chalicelib.observability import logger, metrics, tracer
from chalicelib.services import device_events
from chalicelib.services.device_events import IngestResult

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def handle_record(record: SQSRecord) -> IngestResult:
    deps = bootstrap.deps()
    try:
        raw = parse_envelope(record.body)
    except Rejected as rejected:
        raw = RawDeviceMessage(topic="", payload=record.body, client_id=None, received_at_ms=deps.clock.now_ms())
        result = device_events.reject(deps, raw, rejected)
    else:
        try:
            message = parse_message(raw)
        except Rejected as rejected:
            result = device_events.reject(deps, raw, rejected)
        else:
            logger.append_keys(correlation_id=message.event_id)
            result = device_events.ingest(deps, message, raw)
    metrics.add_metric(name=f"DeviceEvents{result.outcome.value.title()}", unit=MetricUnit.Count, value=1)
    logger.info(f"device event {raw.topic or '?'} -> {result.outcome.value}",
                extra={"reason": result.reason, "detail": result.detail})
    logger.remove_keys(["correlation_id"])
    return result


@tracer.capture_method
def handle_device_events(event: Any) -> PartialItemFailureResponse:
    return drain(event, handle_record)
