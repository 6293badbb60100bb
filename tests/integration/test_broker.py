import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from moto import mock_aws
from paho.mqtt.enums import CallbackAPIVersion

from localcloud.broker import GatewayError, IotGateway, RuleDeliveryError
from localcloud.rule_actions import sqs_target
from tests.support.iot_rules import CATCH_ALL_SQL, WEIGHIN_SQL

DEADLINE_S = 5.0


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


class Collector:
    """A rule target that records what it is given."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, rule_name: str, message: dict[str, Any]) -> None:
        with self._lock:
            self.items.append((rule_name, message))

    def find(self, **fields: Any) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(r, m) for r, m in self.items if all(m.get(k) == v for k, v in fields.items())]


class Device:
    """A paho-mqtt 2.x client whose client id is its thing name."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client_id = client_id
        self.messages: list[mqtt.MQTTMessage] = []
        self.suback: dict[int, list[Any]] = {}
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg)
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: self.suback.__setitem__(mid, list(codes))
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self._connected.wait(DEADLINE_S), f"{client_id} did not connect"

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if not reason_code.is_failure:
            self._connected.set()

    def subscribe(self, topic_filter: str, qos: int = 1) -> bool:
        """Subscribe and wait for the SUBACK; True when granted."""
        _rc, mid = self.client.subscribe(topic_filter, qos)
        assert mid is not None
        codes = wait_until(lambda: self.suback.get(mid))
        return not codes[0].is_failure

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos)
        info.wait_for_publish(DEADLINE_S)

    def topics(self) -> list[str]:
        return [m.topic for m in list(self.messages)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def gateway(collector: Collector) -> Iterator[IotGateway]:
    gw = IotGateway([("weighin", WEIGHIN_SQL, collector), ("unroutable", CATCH_ALL_SQL, collector)], port=0)
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def devices(gateway: IotGateway) -> Iterator[Callable[[str], Device]]:
    made: list[Device] = []

    def make(client_id: str) -> Device:
        made.append(Device(gateway.port, client_id))
        return made[-1]

    yield make
    for d in made:
        d.close()


def test_own_name_publish_reaches_the_rule_target(gateway, collector, devices):
    payload = json.dumps({"event_id": "e1", "ts": 1, "category": "paper", "weight_g": 500}).encode()
    before = int(time.time() * 1000)
    devices("bin-1").publish("dt/linli/c1/bin-1/weighin", payload)

    [(rule, message)] = wait_until(lambda: collector.find(topic="dt/linli/c1/bin-1/weighin"))
    assert rule == "weighin"
    assert message["client_id"] == "bin-1"
    assert base64.b64decode(message["payload_b64"]) == payload
    assert before <= message["received_at"] <= int(time.time() * 1000)
    wait_until(lambda: gateway.counters.delivered == 1)
    assert gateway.counters.received == 1
    assert gateway.counters.failed == 0


def test_non_json_and_malformed_topics_go_to_the_catch_all(collector, devices):
    dev = devices("bin-1")
    dev.publish("dt/linli/c1/bin-1/weight", b"\x00\xffbinary")
    dev.publish("dt/linli/c1/bin-1", b"short")

    [(rule, message)] = wait_until(lambda: collector.find(topic="dt/linli/c1/bin-1/weight"))
    assert rule == "unroutable"
    assert base64.b64decode(message["payload_b64"]) == b"\x00\xffbinary"
    wait_until(lambda: collector.find(topic="dt/linli/c1/bin-1"))


def test_foreign_publish_is_tagged_for_the_rules_but_not_broadcast(collector, devices):
    monitor = devices("console")
    assert monitor.subscribe("dt/linli/#")
    rogue = devices("bin-2")

    rogue.publish("dt/linli/c1/bin-1/weighin", b'{"event_id":"forged"}')  # bin-2 posing as bin-1
    rogue.publish("dt/linli/c1/bin-2/weighin", b'{"event_id":"own"}')

    [(_, forged)] = wait_until(lambda: collector.find(topic="dt/linli/c1/bin-1/weighin"))
    assert forged["client_id"] == "bin-2"  # the hub sees who really sent it
    wait_until(lambda: "dt/linli/c1/bin-2/weighin" in monitor.topics())
    # messages from one client are broadcast in order: had the forged one gone out, it would be here by now
    assert monitor.topics() == ["dt/linli/c1/bin-2/weighin"]


def test_commands_reach_only_the_named_device(gateway, devices):
    bin1 = devices("bin-1")
    bin2 = devices("bin-2")
    spy = devices("spy")
    assert bin1.subscribe("cmd/linli/+/bin-1/#")
    assert not bin2.subscribe("cmd/linli/+/bin-1/#")  # another thing's commands: refused
    assert not bin2.subscribe("cmd/linli/#")
    assert bin2.subscribe("cmd/linli/c1/bin-2/#")
    assert spy.subscribe("#")  # allowed, but cmd/ messages for others are never sent to it

    gateway.publish("cmd/linli/c1/bin-1/water", b'{"ml":200}')
    gateway.publish("cmd/linli/c1/bin-2/ping", b"{}")  # marker for bin-2, after the command
    gateway.publish("dt/linli/c1/marker/heartbeat", b"{}", qos=0)  # marker for spy

    wait_until(lambda: "cmd/linli/c1/bin-1/water" in bin1.topics())
    assert bin1.messages[0].payload == b'{"ml":200}'
    wait_until(lambda: "cmd/linli/c1/bin-2/ping" in bin2.topics())
    wait_until(lambda: "dt/linli/c1/marker/heartbeat" in spy.topics())
    assert bin2.topics() == ["cmd/linli/c1/bin-2/ping"]
    assert spy.topics() == ["dt/linli/c1/marker/heartbeat"]
    assert gateway.counters.received == 0  # publish() is not a client message


def test_devices_may_not_publish_commands(devices):
    bin1 = devices("bin-1")
    assert bin1.subscribe("cmd/linli/+/bin-1/#")
    assert bin1.subscribe("dt/linli/c1/bin-2/#")
    rogue = devices("bin-2")
    rogue.publish("cmd/linli/c1/bin-1/unlock", b"{}")  # a device forging a command
    rogue.publish("dt/linli/c1/bin-2/heartbeat", b"{}")  # same sender, so broadcast after the forgery
    wait_until(lambda: bin1.topics())
    assert bin1.topics() == ["dt/linli/c1/bin-2/heartbeat"]


def test_a_will_on_a_forbidden_topic_is_refused_at_connect(gateway, devices):
    bin1 = devices("bin-1")
    assert bin1.subscribe("cmd/linli/+/bin-1/#")
    refused = threading.Event()
    rogue = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bin-2")
    rogue.will_set("cmd/linli/c1/bin-1/unlock", b"{}", qos=1)
    rogue.on_connect = lambda _c, _u, _f, rc, _p: refused.set() if rc.is_failure else None
    rogue.connect("127.0.0.1", gateway.port)
    rogue.loop_start()
    try:
        assert refused.wait(DEADLINE_S)
    finally:
        rogue.loop_stop()
    # the same client id with an allowed will (or none) connects fine afterwards
    legit = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bin-2", clean_session=False)
    legit.will_set("dt/linli/c1/bin-2/heartbeat", b"{}")
    accepted = threading.Event()
    legit.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else accepted.set()
    legit.connect("127.0.0.1", gateway.port)
    legit.loop_start()
    try:
        assert accepted.wait(DEADLINE_S)
    finally:
        legit.disconnect()
        legit.loop_stop()
    assert bin1.topics() == []


def test_publish_validates_its_arguments(gateway):
    with pytest.raises(ValueError, match="invalid topic"):
        gateway.publish("cmd/linli/+/bin-1/water", b"")
    with pytest.raises(ValueError, match="qos"):
        gateway.publish("cmd/linli/c1/bin-1/water", b"", qos=2)
    stopped = IotGateway([], port=0)
    with pytest.raises(GatewayError, match="not running"):
        stopped.publish("cmd/linli/c1/bin-1/water", b"")


def test_failed_delivery_is_counted_and_logged(devices, caplog):
    def broken(_rule: str, _message: dict[str, Any]) -> None:
        raise ConnectionError("queue unreachable")

    with IotGateway([("weighin", WEIGHIN_SQL, broken)], port=0) as gw:
        dev = Device(gw.port, "bin-1")
        try:
            with caplog.at_level(logging.WARNING, logger="localcloud.broker"):
                dev.publish("dt/linli/c1/bin-1/weighin", b"{}")
                wait_until(lambda: gw.counters.failed == 1)
        finally:
            dev.close()
    assert gw.counters.delivered == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "localcloud.broker"]
    assert "IoT rule weighin" in line
    assert "dt/linli/c1/bin-1/weighin" in line
    assert "queue unreachable" in line


def test_invalid_rule_sql_fails_at_construction():
    with pytest.raises(ValueError, match="unsupported function"):
        IotGateway([("bad", "SELECT upper(topic()) AS t FROM 'a'", lambda _r, _m: None)], port=0)


def _non_daemon_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.daemon}


def test_stop_frees_the_port_and_leaves_no_threads():
    before = _non_daemon_threads()
    gw = IotGateway([("weighin", WEIGHIN_SQL, lambda _r, _m: None)], port=0)
    gw.start()
    gw.start()  # idempotent
    port = gw.port
    assert port != 0
    dev = Device(port, "bin-1")
    dev.publish("dt/linli/c1/bin-1/weighin", b"{}")
    wait_until(lambda: gw.counters.delivered == 1)

    started = time.monotonic()
    gw.stop()
    assert time.monotonic() - started < DEADLINE_S
    gw.stop()  # idempotent
    dev.close()

    assert not gw.running
    assert _non_daemon_threads() <= before
    assert not [t for t in threading.enumerate() if t.name == "iot-gateway"]
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S).close()
    again = IotGateway([], port=port)  # and the port can be bound again
    again.start()
    again.stop()


def test_restart_after_stop():
    gw = IotGateway([], port=0)
    gw.start()
    gw.stop()
    gw.start()
    try:
        dev = Device(gw.port, "bin-1")
        dev.close()
    finally:
        gw.stop()


def test_start_raises_when_the_port_is_taken():
    before = _non_daemon_threads()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        gw = IotGateway([], port=busy.getsockname()[1])
        with pytest.raises(GatewayError, match="could not start"):
            gw.start()
    assert not gw.running
    assert _non_daemon_threads() <= before
    gw.stop()  # harmless after a failed start


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-east-1")
    with mock_aws():
        yield boto3.client("sqs", region_name="ap-east-1")


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in msgs]


def test_sqs_target_lands_device_messages_in_the_queue(aws):
    queue = aws.create_queue(QueueName="device-weighin")["QueueUrl"]
    errors = aws.create_queue(QueueName="device-rule-errors")["QueueUrl"]
    with IotGateway([("weighin", WEIGHIN_SQL, sqs_target(aws, queue, errors))], port=0) as gw:
        dev = Device(gw.port, "bin-1")
        try:
            dev.publish("dt/linli/c1/bin-1/weighin", b'{"event_id":"e1"}')
            wait_until(lambda: gw.counters.delivered == 1)
        finally:
            dev.close()
    [body] = _receive(aws, queue)
    assert body["topic"] == "dt/linli/c1/bin-1/weighin"
    assert body["client_id"] == "bin-1"
    assert base64.b64decode(body["payload_b64"]) == b'{"event_id":"e1"}'
    assert isinstance(body["received_at"], int)
    assert _receive(aws, errors) == []


def test_sqs_target_runs_the_error_action_when_the_queue_fails(aws):
    errors = aws.create_queue(QueueName="device-rule-errors")["QueueUrl"]
    missing = errors.replace("device-rule-errors", "no-such-queue")
    deliver = sqs_target(aws, missing, errors)
    message = {"payload_b64": "e30=", "topic": "dt/linli/c1/bin-1/weighin", "client_id": "bin-1"}

    with pytest.raises(RuleDeliveryError, match="error record sent"):
        deliver("weighin", message)

    [record] = _receive(aws, errors)
    assert record["ruleName"] == "weighin"
    assert record["topic"] == "dt/linli/c1/bin-1/weighin"
    assert record["clientId"] == "bin-1"
    assert record["base64OriginalPayload"] == "e30="
    [failure] = record["failures"]
    assert failure["failedAction"] == "SqsAction"
    assert failure["failedResource"] == missing

    with pytest.raises(RuleDeliveryError, match="failed too"):
        sqs_target(aws, missing, missing)("weighin", message)
