"""Cold start: median import time of the device-events handler module vs ``import boto3``, fresh interpreters.

Each sample is a whole fresh ``python -c "import …"`` (interpreter start included), tracing disabled as
locally (``POWERTOOLS_TRACE_DISABLED``). The candidates are run interleaved, round after round, so that
whatever else the machine is doing weighs on all of them alike.

Besides the ratio the issue asks for, two more for context: the whole Chalice app (``import app``: what a
deployed function actually imports), and the handler module plus parsing one weigh-in envelope (pydantic
and its models load on first use, so this is the honest price of the first message, minus AWS).
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_ENVELOPE = json.dumps({
    "payload_b64": base64.b64encode(json.dumps({"event_id": "e1", "ts": 1, "category": "paper", "weight_g": 2350,
                                                "phone": "13800138000"}).encode()).decode(),
    "topic": "dt/linli/c1/bin-1/weighin", "client_id": "bin-1", "received_at": 2})

CANDIDATES = {
    "boto3": "import boto3",
    "device_events": "import chalicelib.handlers.device_events",
    "app": "import app",
    "device_events_first_parse": (
        "import chalicelib.handlers.device_events\n"
        "from chalicelib.handlers.device_messages import parse_envelope, parse_message\n"
        f"parse_message(parse_envelope({_ENVELOPE!r}))"),
}


def _run(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"POWERTOOLS_TRACE_DISABLED": "true", "PATH": ""})
    return time.perf_counter() - started


def measure(rounds: int = 9) -> dict[str, float]:
    for code in CANDIDATES.values():  # compile the .pyc files and warm the page cache first
        _run(code)
    samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for _ in range(rounds):
        for name, code in CANDIDATES.items():
            samples[name].append(_run(code))
    median = {name: statistics.median(values) for name, values in samples.items()}
    baseline = median["boto3"]
    return {
        "import_boto3_s": round(baseline, 3),
        "import_device_events_s": round(median["device_events"], 3),
        "import_app_s": round(median["app"], 3),
        "import_device_events_first_parse_s": round(median["device_events_first_parse"], 3),
        "cold_import_ratio": round(median["device_events"] / baseline, 2),
        "cold_import_ratio_app": round(median["app"] / baseline, 2),
        "cold_import_ratio_first_parse": round(median["device_events_first_parse"] / baseline, 2),
    }
