"""Start ``python -m localcloud up`` in a subprocess on free ports, as the e2e tests do, but also knowing
the embedded AWS endpoint (the moto server) so a benchmark can talk to it directly."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import requests

from tests.e2e import conftest as e2e

ADMIN_TOKEN = "bench-admin"  # noqa: S105 - a local-only token for a throwaway hub


@dataclass
class BenchHub:
    api: str
    mqtt_port: int
    aws: str
    sandbox: str
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
    """The e2e suite's hub launcher, with the bench's admin token and a longer start-up allowance."""
    hub = e2e.start_hub(tmp, admin_token=ADMIN_TOKEN, extra_env=extra_env, timeout_s=90)
    return BenchHub(api=hub.api, mqtt_port=hub.mqtt_port, aws=hub.aws, sandbox=hub.sandbox, process=hub.process,
                    log_path=hub.log_path)


@contextmanager
def hub_or_own(hub: BenchHub | None) -> Iterator[BenchHub]:
    """``hub`` if given (the caller stops it), else a hub of our own for the duration."""
    if hub is not None:
        yield hub
        return
    with TemporaryDirectory() as tmp:
        own = start_hub(Path(tmp))
        try:
            yield own
        finally:
            own.stop()
