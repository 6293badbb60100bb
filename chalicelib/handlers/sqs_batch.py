"""One SQS batch through powertools' batch utility: partial batch failures, metrics flushed after each batch.

Cold start: the batch utility (it brings asyncio and every event data class) is imported when the first
batch arrives, not with the handler modules, and each batch gets its own ``BatchProcessor`` (it keeps the
batch's records and results on itself, so one shared processor must never see two batches at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.observability import metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def drain(event: Any, handle: Callable[[SQSRecord], object], *,
          raise_on_entire_batch_failure: bool = True) -> PartialItemFailureResponse:
    """Chalice passes an SQSEvent; powertools wants the raw Lambda event. ``handle`` is called as
    ``handle(record=…)``; a record it raises on is reported failed, so SQS redelivers it."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    raw_event = event.to_dict() if hasattr(event, "to_dict") else event
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=raise_on_entire_batch_failure)
    try:
        return process_partial_response(event=raw_event, record_handler=handle, processor=processor,
                                        context=getattr(event, "context", None))
    finally:
        metrics.flush_metrics()
