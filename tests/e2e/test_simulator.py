"""The community simulator against a running hub: a short day of a small community, run as a newcomer
would run it (``python -m localcloud simulate``), must end with credited weigh-ins, a completed order,
a balanced ledger and an HTML report with its charts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import ROOT, Hub

pytestmark = pytest.mark.e2e


def test_a_short_simulated_day_ends_with_credits_a_completed_order_and_a_balanced_ledger(hub: Hub,
                                                                                         tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    env = {**os.environ, "LINLI_ADMIN_TOKEN": hub.admin_token,
           "LINLI_AWS_PORT": str(urlparse(hub.aws).port)}
    env.pop("AWS_ENDPOINT_URL", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "localcloud", "simulate", "--households", "20", "--hours", "3", "--speed", "3600",
         "--seed", "7", "--report", str(report), "--api", hub.api, "--mqtt-port", str(hub.mqtt_port),
         "--sandbox", hub.sandbox, "--timeout", "40"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    credited = next(line for line in out.splitlines() if "credited weigh-ins" in line)
    assert int(credited.split()[1]) >= 1
    orders = next(line for line in out.splitlines() if line.startswith("orders"))
    assert "completed 0" not in orders and "completed" in orders
    ledger = next(line for line in out.splitlines() if line.startswith("ledger"))
    assert ledger.endswith("invariants ok")
    assert "RESULT: ok" in out
    assert "setting up" in done.stderr  # progress went to stderr, the table to stdout
    html = report.read_text(encoding="utf-8")
    for section in ("Recycling by hour and category", "Alarms", "Order funnel", "Webhook latency"):
        assert section in html
    assert html.count("<svg") >= 4
    assert not any(ref in html for ref in ("src=", "href=", "<link", "url(")), "the report must be self-contained"
    assert elapsed < 60


def test_simulate_says_clearly_when_no_hub_is_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "localcloud", "simulate", "--api", "http://127.0.0.1:9", "--report",
         str(tmp_path / "r.html")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no hub answers" in done.stderr and not (tmp_path / "r.html").exists()
