"""The outbox table's stream: every domain event, once written, is acted on here.

Events that make the hub do work (provision a thing, refund, settle) map to one service call each
(``ROUTES``); events someone should hear of are published to the notification topic, once per audience
(domain/notify.py), and the channel queues' workers take it from there (handlers/notify_channels.py).
Handlers must be idempotent — stream records are delivered at least once — and a failing record is
reported so the stream retries it (then bisects, then sends it to the on-failure destination).
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
from chalicelib.services import communities, notify_fanout, order_payments
from chalicelib.services.deps import Deps

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _device_registered(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    communities.provision_thing(deps, str(data["thing_name"]), community_id, str(data["type"]))


def _refund_requested(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    logger.info(order_payments.start_refund(deps, str(data["order_id"])))


def _settled(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    logger.info(order_payments.settle_partner(deps, str(data["order_id"]), int(data["share_fen"]),
                                              int(data.get("commission_fen", 0))))


#: events that make the hub do work; who hears of an event is domain/notify.py's AUDIENCES
ROUTES: dict[str, Callable[[Deps, str, Mapping[str, Any]], None]] = {
    "device.registered": _device_registered,
    "order.refund_requested": _refund_requested,
    "order.settled": _settled,
}


def handle_record(record: DynamoDBRecord) -> None:
    if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
        return
    image = record.dynamodb.new_image
    event_type = str(image.get("event_type"))
    data = image.get("data") or {}
    if isinstance(data, str):  # PynamoDB's JSONAttribute stores a JSON string
        data = json.loads(data)
    deps, community_id = bootstrap.deps(), str(image.get("community_id"))
    route = ROUTES.get(event_type)
    if route is not None:
        route(deps, community_id, data)
    # the outbox item's key names the event uniquely: the channels dedupe on it
    audiences = notify_fanout.publish(deps, event_type, community_id, str(image.get("pk")), data)
    if route is None and not audiences:
        logger.debug(f"outbox {event_type}: no consumer")
        return
    logger.info(f"outbox {event_type} handled", extra={"key": image.get("pk"), "audiences": audiences})


@tracer.capture_method
def fan_out_outbox(event: Any) -> PartialItemFailureResponse:
    raw_event = event.to_dict() if hasattr(event, "to_dict") else event
    return process_partial_response(event=raw_event, record_handler=handle_record, processor=processor,
                                    context=getattr(event, "context", None))
