"""The notification channel queues (topic → SQS with a filter policy on ``audience``): one worker each.

Every worker is idempotent (services/notify_fanout.once) and reports partial batch failures. The
residents' worker may *hold* a message for its recipient's quiet hours: it makes the message invisible
until they end (ChangeMessageVisibility) and reports it failed, so SQS hands it back then.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.handlers.sqs_batch import drain
from chalicelib.observability import logger, metrics, tracer
from chalicelib.services import channel_feeds, channel_residents, channel_staff, notify_fanout

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class HeldForQuietHours(Exception):
    """Not a failure: the message comes back when the resident's quiet hours end."""


def _residents(record: SQSRecord, held: list[str]) -> None:
    """``held`` collects the ids of the messages this invocation held."""
    deps = bootstrap.deps()
    note = notify_fanout.parse(record.body)
    outcome = channel_residents.deliver(deps, note)
    for name, count in (("NotifyWeChat", outcome.wechat), ("NotifySms", outcome.sms),
                        ("NotifyUndeliverable", outcome.undeliverable)):
        if count:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    if outcome.undeliverable:
        logger.warning(f"{note.type}: no allowance and no phone", extra={"key": note.key})
    logger.info(f"resident notice {note.type}", extra={"key": note.key, "outcome": vars(outcome)})
    if outcome.hold_s:
        deps.notify.hold.hold(record.event_source_arn, record.receipt_handle, outcome.hold_s)
        held.append(record.message_id)
        raise HeldForQuietHours(f"held {outcome.hold_s} s for quiet hours")


def _staff(record: SQSRecord) -> None:
    note = notify_fanout.parse(record.body)
    outcome = channel_staff.deliver(bootstrap.deps(), note)
    logger.info(f"staff notice {note.type}", extra={"key": note.key, "outcome": vars(outcome)})


def _partners(record: SQSRecord) -> None:
    note = notify_fanout.parse(record.body)
    delivery = channel_feeds.deliver_to_partner(bootstrap.deps(), note)
    logger.info(f"partner {note.type}: {'queued' if delivery else 'nothing to do'}", extra={"key": note.key})


def _tv(record: SQSRecord) -> None:
    note = notify_fanout.parse(record.body)
    refreshed = channel_feeds.refresh_tv(bootstrap.deps(), note)
    logger.info(f"tv feed {note.community_id}: {'refreshed' if refreshed else 'already'}", extra={"key": note.key})


def _drain(event: Any, handle: Callable[[SQSRecord], None]) -> PartialItemFailureResponse:
    """A batch whose every record failed is reported record by record too, not raised: a batch held for
    quiet hours is not a function error (which Lambda would count, and back off from)."""
    return drain(event, handle, raise_on_entire_batch_failure=False)


@tracer.capture_method
def notify_residents(event: Any) -> dict[str, Any]:
    """Held messages are also named in ``visibilityKept``: Lambda ignores the key (it leaves visibility
    to the function anyway); localcloud's SQS pump, which shortens failed records' visibility so local
    retries are quick, must not shorten these."""
    held: list[str] = []
    response: dict[str, Any] = dict(_drain(event, partial(_residents, held=held)))
    if held:
        response["visibilityKept"] = held
    return response


@tracer.capture_method
def notify_staff(event: Any) -> PartialItemFailureResponse:
    return _drain(event, _staff)


@tracer.capture_method
def notify_partners(event: Any) -> PartialItemFailureResponse:
    return _drain(event, _partners)


@tracer.capture_method
def refresh_tv(event: Any) -> PartialItemFailureResponse:
    return _drain(event, _tv)
