"""Every five minutes: how many devices have gone silent (no message for 3 heartbeat intervals)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import device_health


def check_device_health(event: Any) -> dict[str, int]:
    report = device_health.count_silent_devices(bootstrap.deps())
    metrics.add_metric(name="DevicesSilent", unit=MetricUnit.Count, value=report.silent)
    metrics.flush_metrics()
    logger.info(f"device health: {report.silent} of {report.total} devices silent")
    return {"total": report.total, "silent": report.silent}
