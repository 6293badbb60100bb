"""EventBridge schedules for ``@app.schedule`` functions: ``rate(N unit)`` expressions, on one machine."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from localcloud.lambda_runtime import FunctionInvoker

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


class Scheduler:
    def __init__(self, region: str, speedup: float = 1.0) -> None:
        self._region = region
        self._speedup = speedup
        self._jobs: list[tuple[str, float, FunctionInvoker]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self.runs = 0

    def add(self, expression: str, invoke: FunctionInvoker) -> None:
        self._jobs.append((expression, rate_seconds(expression) / self._speedup, invoke))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        due = {invoke.name: time.monotonic() + period for _, period, invoke in self._jobs}
        while not self._stop.is_set():
            now = time.monotonic()
            for expression, period, invoke in self._jobs:
                if now >= due[invoke.name]:
                    due[invoke.name] = now + period
                    try:
                        invoke(scheduled_event(invoke.name, self._region))
                        self.runs += 1
                    except Exception:
                        log.exception("scheduled %s (%s) failed", invoke.name, expression)
            self._stop.wait(0.5)
