"""Run every benchmark; print a table, then one JSON object as the last line."""

from __future__ import annotations

import json

from bench import cold_import, mqtt_throughput, requests_per_event


def main() -> None:
    results: dict[str, float] = {}
    results.update(requests_per_event.measure())
    results.update(cold_import.measure())
    results.update(mqtt_throughput.measure())
    width = max(len(k) for k in results)
    print(f"{'metric':<{width}}  value")
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
