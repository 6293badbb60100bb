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
from chalicelib.services import communities, notifications, order_payments, webhooks
from chalicelib.services.deps import Deps

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _device_registered(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    communities.provision_thing(deps, str(data["thing_name"]), community_id, str(data["type"]))


def _recycling_credited(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    outcome = notifications.notify_credit(deps, data)
    logger.info(f"credit notice {outcome}", extra={"resident_id": data.get("resident_id")})


def _partner_webhook(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    """An order event for a partner: hand it to webhook delivery (idempotent by its message id)."""
    audience = str(data["audience"])
    payload = {k: v for k, v in data.items() if k not in ("audience", "message_id", "event_type")}
    webhooks.enqueue(deps, audience.removeprefix("partner:"), community_id, str(data["event_type"]), payload,
                     str(data["message_id"]))


def _order_updated(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    outcome = notifications.notify_order(deps, data)
    logger.info(f"order notice {outcome}", extra={"order_id": data.get("order_id")})


def _refund_requested(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    logger.info(order_payments.start_refund(deps, str(data["order_id"])))


def _settled(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    logger.info(order_payments.settle_partner(deps, str(data["order_id"]), int(data["share_fen"]),
                                              int(data.get("commission_fen", 0))))


def _staff_alert(deps: Deps, community_id: str, data: Mapping[str, Any]) -> None:
    """Staff alerts get their own channel with the notification fan-out (issue 5); until then the
    work list (GET …/orders/work) shows these orders and the log says why."""
    logger.warning("staff attention needed", extra={"community_id": community_id, "data": dict(data)})


ROUTES: dict[str, Callable[[Deps, str, Mapping[str, Any]], None]] = {
    "device.registered": _device_registered,
    "recycling.credited": _recycling_credited,
    "order.offered": _partner_webhook,
    "order.cancelled": _partner_webhook,
    "order.withdrawn": _partner_webhook,
    "order.updated": _order_updated,
    "order.refund_requested": _refund_requested,
    "order.settled": _settled,
    "order.staff_work": _staff_alert,
    "order.escalated": _staff_alert,
    "order.refund_failed": _staff_alert,
    "partner.endpoint_disabled": _staff_alert,
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
    route(bootstrap.deps(), str(image.get("community_id")), {**data, "event_type": event_type})
    logger.info(f"outbox {event_type} handled", extra={"key": image.get("pk")})


@tracer.capture_method
def fan_out_outbox(event: Any) -> PartialItemFailureResponse:
    raw_event = event.to_dict() if hasattr(event, "to_dict") else event
    return process_partial_response(event=raw_event, record_handler=handle_record, processor=processor,
                                    context=getattr(event, "context", None))
