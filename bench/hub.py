"""Start ``python -m localcloud up`` in a subprocess on free ports, as the e2e tests do, but also knowing
the embedded AWS endpoint (the moto server) so a benchmark can talk to it directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import ROOT, free_port

ADMIN_TOKEN = "bench-admin"  # noqa: S105 - a local-only token for a throwaway hub


@dataclass
class BenchHub:
    api: str
    mqtt_port: int
    aws: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def call(self, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN) -> Any:
        """One API call; ``token`` is the admin's unless given (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, self.api + path, json=body, headers=headers, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the hub process has used so far; None where /proc is not there."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_hub(tmp: Path, extra_env: dict[str, str] | None = None) -> BenchHub:
    ports = {name: free_port() for name in ("API", "MQTT", "AWS", "SANDBOX")}
    env = {**os.environ, "LINLI_ADMIN_TOKEN": ADMIN_TOKEN, "LINLI_LOG_FORMAT": "pretty", **(extra_env or {})}
    env.pop("AWS_ENDPOINT_URL", None)
    env.update({f"LINLI_{name}_PORT": str(port) for name, port in ports.items()})
    log_path = tmp / "localcloud.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "localcloud", "up"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    hub = BenchHub(api=f"http://127.0.0.1:{ports['API']}", mqtt_port=ports["MQTT"],
                   aws=f"http://127.0.0.1:{ports['AWS']}", process=process, log_path=log_path)
    deadline = time.monotonic() + 90
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
