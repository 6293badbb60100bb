"""Cold start: median import time of the device-events handler module vs ``import boto3``, fresh interpreters."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _median_import(module: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True,
                       env={"POWERTOOLS_TRACE_DISABLED": "true", "PATH": ""})
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure() -> dict[str, float]:
    baseline = _median_import("boto3")
    handler = _median_import("chalicelib.handlers.device_events")
    app = _median_import("app")
    return {"import_boto3_s": round(baseline, 3), "import_device_events_s": round(handler, 3),
            "import_app_s": round(app, 3), "cold_import_ratio": round(handler / baseline, 2),
            "cold_import_ratio_app": round(app / baseline, 2)}
