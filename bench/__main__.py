"""Run every benchmark; print a table, then one JSON object as the last line.

``python -m bench`` (``make bench``): DynamoDB requests per message on a warm container, the cold import
of the device-events handler and each deployed function's cold start, heartbeats end to end, weigh-ins
end to end with the moto ceiling and the growth run, partner webhook fan-out, and a 500-household
community's mixed device traffic (see each module). Progress goes to stderr; stdout is the table and the
JSON line.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from bench import (
    capacity_units,
    cold_import,
    community_day,
    mqtt_throughput,
    recycling_e2e,
    requests_per_event,
    webhook_fanout,
)
from bench.hub import BenchHub, start_hub

#: the issue's targets: key → (comparison, bound)
TARGETS: dict[str, tuple[str, float]] = {
    "ddb_writes_per_weighin": ("==", 1),
    "ddb_reads_per_weighin": ("<=", 1),
    "ddb_requests_per_duplicate": ("<=", 1),
    "ddb_writes_per_duplicate": ("==", 0),
    "cold_import_ratio": ("<=", 1.5),
    "growth_ratio": (">=", 0.8),
    "webhook_signature_failures": ("==", 0),
    "day_triggers_unseen": ("==", 0),
}


def _verdict(key: str, value: float) -> str:
    if key not in TARGETS:
        return ""
    op, bound = TARGETS[key]
    ok = {"==": value == bound, "<=": value <= bound, ">=": value >= bound}[op]
    return f"target {op} {bound:g}: {'ok' if ok else 'MISSED'}"


def main() -> None:
    results: dict[str, float] = {}
    started = time.perf_counter()
    with TemporaryDirectory() as tmp:
        hub: BenchHub | None = None

        def local_hub() -> BenchHub:
            nonlocal hub
            if hub is None:
                hub = start_hub(Path(tmp))
            return hub

        parts: list[tuple[str, Callable[[], dict[str, float]]]] = [
            ("DynamoDB requests per message", requests_per_event.measure),
            ("cold import", cold_import.measure),
            # one local hub for both end-to-end parts (heartbeats first, on a fresh hub)
            ("heartbeats end to end", lambda: mqtt_throughput.measure(local_hub())),
            ("weigh-ins end to end", lambda: recycling_e2e.measure(local_hub())),
            # a hub of its own: the 50k-row growth run above would otherwise weigh on every later
            # read and write of the fan-out, which is not what this part measures
            ("webhook fan-out", webhook_fanout.measure),
            ("community day (500 households, one simulated hour)", community_day.measure),
            ("capacity units (billed units per message, bench/capacity_units.py)", capacity_units.measure),
        ]
        try:
            for label, measure in parts:
                part_started = time.perf_counter()
                print(f"[bench] {label} ...", file=sys.stderr, flush=True)
                with contextlib.redirect_stdout(sys.stderr):
                    results.update(measure())
                print(f"[bench] {label}: {time.perf_counter() - part_started:.0f} s", file=sys.stderr, flush=True)
        finally:
            if hub is not None:
                hub.stop()
    results["bench_seconds"] = round(time.perf_counter() - started)
    width = max(len(k) for k in results)
    print(f"{'metric':<{width}}  {'value':>10}")
    for key, value in results.items():
        print(f"{key:<{width}}  {value:>10}  {_verdict(key, value)}".rstrip())
    for kind, operations in requests_per_event.OPERATIONS.items():
        print(f"  per {kind}: " + ", ".join(f"{op} {n:g}" for op, n in operations.items()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
