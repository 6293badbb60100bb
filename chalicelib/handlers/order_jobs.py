"""The orders' scheduled job: move offers past their acceptance SLA on, chase refunds whose callback
never came (the provider dedupes by out_refund_no, so asking again is safe), and end orders left unpaid
past the payment window (after asking WeChat whether a payment was made)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.observability import logger, metrics, tracer
from chalicelib.services import order_flow, order_payments


@tracer.capture_method
def run_order_jobs(event: Any) -> dict[str, int]:
    deps = bootstrap.deps()
    result = {"offers_moved": order_flow.expire_offers(deps), "refunds_checked": order_payments.check_refunds(deps),
              "unpaid_ended": order_payments.expire_unpaid(deps)}
    logger.info("order jobs", extra=result)
    metrics.add_metric(name="OrderOffersMoved", unit=MetricUnit.Count, value=result["offers_moved"])
    metrics.flush_metrics()
    return result
