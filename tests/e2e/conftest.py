"""Start ``python -m localcloud up`` in a subprocess on free ports; tests talk to it over HTTP and MQTT only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hub:
    api: str
    mqtt_port: int
    sandbox: str
    aws: str
    admin_token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


E2E_ADMIN_TOKEN = "e2e-admin"


def start_hub(tmp: Path, admin_token: str = E2E_ADMIN_TOKEN, extra_env: dict[str, str] | None = None,
              timeout_s: float = 60) -> Hub:
    """``python -m localcloud up`` on free ports, once ``/healthz`` answers 200 (the benchmarks use it too)."""
    ports = {name: free_port() for name in ("API", "MQTT", "AWS", "SANDBOX")}
    env = {**os.environ, "LINLI_ADMIN_TOKEN": admin_token, "LINLI_LOG_FORMAT": "pretty", **(extra_env or {})}
    env.pop("AWS_ENDPOINT_URL", None)
    env.update({f"LINLI_{name}_PORT": str(port) for name, port in ports.items()})
    log_path = tmp / "localcloud.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "localcloud", "up"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    hub = Hub(api=f"http://127.0.0.1:{ports['API']}", mqtt_port=ports["MQTT"],
              sandbox=f"http://127.0.0.1:{ports['SANDBOX']}", aws=f"http://127.0.0.1:{ports['AWS']}",
              admin_token=admin_token,
              process=process, log_path=log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("localcloud exited early:\n" + log_path.read_text())
        try:
            if requests.get(hub.api + "/healthz", timeout=1).status_code == 200:
                return hub
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("localcloud did not become healthy:\n" + log_path.read_text())


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    # webhook retries 100× faster, so a partner that was down is retried within seconds, not minutes
    hub = start_hub(tmp_path_factory.mktemp("hub"), extra_env={"LINLI_WEBHOOK_RETRY_SCALE": "0.01"})
    yield hub
    stop_hub(hub)


def stop_hub(hub: Hub) -> None:
    """SIGTERM, as Ctrl-C would; a hub that does not stop within 20 s is killed and the test fails."""
    if hub.process.poll() is None:
        hub.process.send_signal(signal.SIGTERM)
        try:
            hub.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            hub.process.kill()
            raise
