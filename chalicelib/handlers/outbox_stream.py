"""The outbox table's stream: every domain event, once written, is acted on here.

Each event type maps to one service call. Handlers must be idempotent — stream records are delivered
at least once — and a failing record is reported so the stream retries it (then bisects, then sends it
to the on-failure destination).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from chalicelib import bootstrap
from chalicelib.observability import logger, tracer
from chalicelib.services import communities, notifications
from chalicelib.services.deps import Deps

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _device_registered(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    communities.provision_thing(deps, str(data["thing_name"]), community_id, str(data["type"]))


def _recycling_credited(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    outcome = notifications.notify_credit(deps, data)
    logger.info(f"credit notice {outcome}", extra={"resident_id": data.get("resident_id")})


ROUTES: dict[str, Callable[[Deps, str, Mapping[str, Any]], None]] = {
    "device.registered": _device_registered,
    "recycling.credited": _recycling_credited,
}


def handle_record(record: DynamoDBRecord) -> None:
    if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
        return
    image = record.dynamodb.new_image
    event_type = str(image.get("event_type"))
    route = ROUTES.get(event_type)
    if route is None:
        logger.debug(f"outbox {event_type}: no consumer")
        return
    data = image.get("data") or {}
    if isinstance(data, str):  # PynamoDB's JSONAttribute stores a JSON string
        data = json.loads(data)
    route(bootstrap.deps(), str(image.get("community_id")), data)
    logger.info(f"outbox {event_type} handled", extra={"key": image.get("pk")})


@tracer.capture_method
def fan_out_outbox(event: Any) -> PartialItemFailureResponse:
    raw_event = event.to_dict() if hasattr(event, "to_dict") else event
    return process_partial_response(event=raw_event, record_handler=handle_record, processor=processor,
                                    context=getattr(event, "context", None))
