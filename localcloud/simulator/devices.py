"""The community's devices on the MQTT gateway, each connected with its thing name as the client id.

Mains-powered devices (bins, doors, irrigation zones, security panels) stay connected; irrigation zones
also subscribe to their own command topic. Battery meters wake up, connect, publish and disconnect, as
NB-IoT meters do — a few workers do that so a slow CONNECT never holds back the rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger("localcloud.simulator")
KEEPALIVE_S = 600
ACK_TIMEOUT_S = 15
Command = Callable[[str, str, dict[str, Any]], None]  # thing, command, payload


class DeviceLinks:
    def __init__(self, host: str, port: int, community_id: str, on_failure: Callable[[str], None]) -> None:
        self.host, self.port, self.community_id = host, port, community_id
        self._clients: dict[str, mqtt.Client] = {}
        self._unacked: list[tuple[float, str, mqtt.MQTTMessageInfo]] = []
        self._lock = threading.Lock()
        self._on_failure = on_failure
        self._wakers = ThreadPoolExecutor(4, thread_name_prefix="sim-meter")

    def topic(self, thing: str, kind: str) -> str:
        return f"dt/linli/{self.community_id}/{thing}/{kind}"

    def connect(self, things: list[str], commands: set[str], on_command: Command) -> None:
        """Connect the always-on devices; those in ``commands`` also listen for their commands."""
        ready = threading.Semaphore(0)
        for thing in things:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing)
            listen = thing in commands

            def connected(c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any, thing: str = thing,
                          listen: bool = listen) -> None:
                if listen:
                    c.subscribe(f"cmd/linli/{self.community_id}/{thing}/#", qos=1)
                ready.release()

            def received(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage, thing: str = thing) -> None:
                try:
                    payload = json.loads(message.payload)
                except ValueError:
                    payload = {}
                on_command(thing, message.topic.rsplit("/", 1)[-1], payload)

            client.on_connect = connected
            client.on_message = received
            client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
            client.loop_start()
            self._clients[thing] = client
        deadline = time.monotonic() + 60
        for _ in things:
            if not ready.acquire(timeout=max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"devices could not connect to the MQTT gateway at {self.host}:{self.port}")

    def publish(self, thing: str, kind: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        client = self._clients.get(thing)
        if client is None:
            self._wakers.submit(self._wake_and_send, thing, self.topic(thing, kind), body)
            return
        info = client.publish(self.topic(thing, kind), body, qos=1)
        with self._lock:
            self._unacked.append((time.monotonic(), thing, info))
            if len(self._unacked) > 200:
                self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        keep = []
        for sent, thing, info in self._unacked:
            if info.is_published():
                continue
            if now - sent > ACK_TIMEOUT_S:
                self._on_failure(f"{thing}: no PUBACK within {ACK_TIMEOUT_S} s")
                continue
            keep.append((sent, thing, info))
        self._unacked = keep

    def _wake_and_send(self, thing: str, topic: str, body: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=thing)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        try:
            client.connect(self.host, self.port, keepalive=60)
            while not client.is_connected() and time.monotonic() < deadline:
                client.loop(timeout=0.05)
            info = client.publish(topic, body, qos=1)
            while not info.is_published() and time.monotonic() < deadline:
                client.loop(timeout=0.05)
            if not info.is_published():
                self._on_failure(f"{thing}: no PUBACK within {ACK_TIMEOUT_S} s")
            client.disconnect()
            client.loop(timeout=0.05)
        except OSError as exc:
            self._on_failure(f"{thing}: {exc}")

    def flush(self, timeout_s: float = ACK_TIMEOUT_S) -> None:
        """Wait until every message sent so far has been acknowledged by the gateway."""
        self._wakers.shutdown(wait=True)
        self._wakers = ThreadPoolExecutor(4, thread_name_prefix="sim-meter")
        deadline = time.monotonic() + timeout_s
        with self._lock:
            pending = list(self._unacked)
            self._unacked = []
        for _, thing, info in pending:
            with contextlib.suppress(RuntimeError, ValueError):  # not sent at all: reported just below
                info.wait_for_publish(max(0.01, deadline - time.monotonic()))
            if not info.is_published():
                self._on_failure(f"{thing}: no PUBACK within {timeout_s:.0f} s")

    def close(self) -> None:
        self._wakers.shutdown(wait=True)
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()
        self._clients.clear()
