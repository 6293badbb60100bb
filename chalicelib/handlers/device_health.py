"""Every five minutes: which devices have gone silent (no message for 3 heartbeat intervals); each
newly silent one raises one device-offline alarm."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib import bootstrap
from chalicelib.observability import logger, metrics
from chalicelib.services import device_health


def check_device_health(event: Any) -> dict[str, int]:
    report = device_health.check_devices(bootstrap.deps())
    metrics.add_metric(name="DevicesSilent", unit=MetricUnit.Count, value=report.silent)
    metrics.add_metric(name="DeviceOfflineAlarms", unit=MetricUnit.Count, value=report.alarmed)
    metrics.flush_metrics()
    logger.info(f"device health: {report.silent} of {report.total} devices silent, {report.alarmed} newly alarmed")
    return {"total": report.total, "silent": report.silent}
