"""Partner webhook delivery: the sender (delivery queue → one attempt per record) and the due dispatcher.

A partner that fails is *not* a failed record: ``deliver`` logs the attempt and schedules the next one
itself. Only the hub's own faults (DynamoDB, SQS, a malformed queue message) are reported as batch item
failures, so SQS redelivers them and, after maxReceiveCount, dead-letters them for someone to look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.adapters.webhook_queue import message_id_of
from chalicelib.handlers.sqs_batch import drain
from chalicelib.observability import logger, metrics, tracer
from chalicelib.services import webhook_delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

#: deliveries one dispatcher run queues at most; the rest wait a minute for the next run
DISPATCH_LIMIT = 500


def deliver_record(record: SQSRecord) -> str | None:
    message_id = message_id_of(record.body)
    logger.append_keys(correlation_id=message_id)
    try:
        status = webhook_delivery.deliver(bootstrap.deps(), message_id)
        metrics.add_metric(name=f"WebhookDeliveries{(status or 'missing').title().replace('_', '')}",
                           unit=MetricUnit.Count, value=1)
        logger.info(f"webhook {message_id} -> {status}")
        return None if status is None else status.value
    finally:
        logger.remove_keys(["correlation_id"])


@tracer.capture_method
def deliver_webhooks(event: Any) -> PartialItemFailureResponse:
    return drain(event, deliver_record)


def dispatch_due_webhooks(event: Any) -> dict[str, int]:
    queued = webhook_delivery.dispatch_due(bootstrap.deps(), DISPATCH_LIMIT)
    metrics.add_metric(name="WebhookDeliveriesDispatched", unit=MetricUnit.Count, value=queued)
    metrics.flush_metrics()
    logger.info(f"webhook deliveries due: {queued} queued")
    return {"queued": queued}
