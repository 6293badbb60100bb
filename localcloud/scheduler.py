"""EventBridge schedules for ``@app.schedule`` functions: ``rate(N unit)`` expressions, on one machine."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from localcloud.lambda_runtime import FunctionInvoker, Poller

log = logging.getLogger("localcloud.schedule")
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> int:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"only rate(N unit) schedules run locally, got {expression!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region, "resources": [f"arn:aws:events:{region}:000000000000:rule/{rule_name}"],
        "detail": {},
    }


class Scheduler(Poller):
    idle_s = 0.5

    def __init__(self, region: str, speedup: float = 1.0) -> None:
        self._region = region
        self._speedup = speedup
        self._jobs: list[tuple[str, float, FunctionInvoker]] = []
        self._due: dict[str, float] = {}
        super().__init__("scheduler")
        self.runs = 0

    def add(self, expression: str, invoke: FunctionInvoker) -> None:
        period = rate_seconds(expression) / self._speedup
        self._jobs.append((expression, period, invoke))
        self._due[invoke.name] = time.monotonic() + period

    def poll(self) -> int:
        ran = 0
        now = time.monotonic()
        for expression, period, invoke in self._jobs:
            if now >= self._due[invoke.name]:
                self._due[invoke.name] = now + period
                try:
                    invoke(scheduled_event(invoke.name, self._region))
                    self.runs += 1
                    ran += 1
                except Exception:
                    log.exception("scheduled %s (%s) failed", invoke.name, expression)
        return ran
