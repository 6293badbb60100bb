"""Commands to devices: AWS IoT Data ``Publish`` in AWS; locally the MQTT broker that stands in for IoT Core.

Locally the hub publishes as a client of the broker (``LINLI_COMMANDS_MQTT`` = ``[user:password@]host:port``);
the broker's device policy lets only the hub's user publish under ``cmd/`` (a device never may). Both
publish at QoS 1: a device that is offline with a persistent session gets the command when it is back.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.errors import UpstreamUnavailable

CONNECT_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 5.0


class IotDataCommands:
    """boto3 ``iot-data`` (the client is made on first use, so a cold start that sends nothing pays nothing)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def publish(self, topic: str, payload: bytes) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("iot-data")
        self._client.publish(topic=topic, qos=1, payload=payload)


class MqttCommands:
    """paho-mqtt to the local broker: one connection per container, opened on first use."""

    def __init__(self, address: str, client_id: str = "linli-hub-commands") -> None:
        parts = urlsplit("mqtt://" + address)
        if not parts.hostname or not parts.port:
            raise ValueError(f"LINLI_COMMANDS_MQTT must be [user:password@]host:port, got {address!r}")
        self._host, self._port = parts.hostname, parts.port
        self._username, self._password = parts.username, parts.password
        self._client_id = client_id
        self._client: Any = None
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        if self._client is not None and self._client.is_connected():
            return self._client
        answered, refused = threading.Event(), threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id)
        if self._username:
            client.username_pw_set(self._username, self._password)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                refused.set()
            answered.set()

        client.on_connect = on_connect
        client.connect(self._host, self._port, keepalive=60)
        client.loop_start()
        if not answered.wait(CONNECT_TIMEOUT_S) or refused.is_set():
            client.loop_stop()
            client.disconnect()
            raise UpstreamUnavailable("the MQTT broker did not accept the hub's connection",
                                      code="commands_unavailable")
        if self._client is not None:
            self.close()
        self._client = client
        return client

    def publish(self, topic: str, payload: bytes) -> None:
        with self._lock:
            info = self._connected().publish(topic, payload, qos=1)
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            if not info.is_published():
                raise UpstreamUnavailable(f"the command to {topic} was not acknowledged", code="commands_unavailable")

    def close(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None


def commands_for(mqtt_address: str) -> IotDataCommands | MqttCommands:
    """The local broker when an address is configured (local stage only), IoT Data otherwise."""
    return MqttCommands(mqtt_address) if mqtt_address else IotDataCommands()
