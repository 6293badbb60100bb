"""The local stand-in for AWS IoT Core: an embedded amqtt broker with a rules engine and a device policy.

:class:`IotGateway` runs an amqtt ``Broker`` on its own thread and asyncio loop. Every message a client
publishes goes through the topic rules (:mod:`localcloud.iot_sql`), whatever the policy says, and each
rule's output is handed to that rule's target on a small thread pool, so the broker's loop never waits on
AWS. Delivery is at least once and unordered, as with IoT Core.

The device policy lives in :mod:`localcloud.device_policy`.

amqtt plugins are named in the broker config's ``plugins`` mapping by dotted path and built by amqtt
itself; the gateway finds its :class:`RulesEnginePlugin` among ``broker.plugins_manager.plugins`` and binds
itself to it before the broker starts (no module-level registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BasePlugin

from localcloud.iot_sql import Rule, compile_rule

__all__ = [
    "DeliverFn",
    "GatewayCounters",
    "GatewayError",
    "IotGateway",
    "RuleDeliveryError",
    "RulesEnginePlugin",
]

log = logging.getLogger(__name__)

DeliverFn = Callable[[str, dict[str, Any]], None]
"""A rule action: ``deliver(rule_name, message)``; raise to report a failed delivery."""


class GatewayError(RuntimeError):
    """The gateway could not start, or is not running."""


class RuleDeliveryError(RuntimeError):
    """A rule's action failed (raised by :func:`sqs_target` after running the error action)."""


@dataclass(frozen=True)
class GatewayCounters:
    received: int  # PUBLISH messages from clients seen by the rules engine
    delivered: int  # rule outputs handed to their target successfully
    failed: int  # rule outputs whose target raised (or that could not be scheduled)


# ------------------------------------------------------------------------------------------ amqtt plugins


class RulesEnginePlugin(BasePlugin):  # type: ignore[misc]
    """Hands every client PUBLISH (before the topic check) to the gateway bound to this broker."""

    gateway: IotGateway | None = None

    async def on_broker_message_received(self, *, client_id: str | None, message: Any) -> None:
        gateway = self.gateway
        if gateway is None or message is None or not getattr(message, "topic", None):
            return
        gateway._on_client_message(client_id or "", str(message.topic), bytes(message.data or b""))


# ------------------------------------------------------------------------------------------ the gateway


class IotGateway:
    """An MQTT broker on ``host:port`` with IoT Core's rules engine and device policy.

    ``rules`` are ``(rule_name, sql, target)``; the SQL is compiled here, so bad SQL fails fast.
    ``port=0`` binds a free port; read :attr:`port` after :meth:`start`.
    """

    def __init__(
        self,
        rules: Iterable[tuple[str, str, DeliverFn]],
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        delivery_workers: int = 4,
        clock_ms: Callable[[], int] | None = None,
        hub_password: str = "",
    ) -> None:
        self._hub_password = hub_password  # the hub's user may publish commands (device_policy.HUB_USERNAME)
        self._rules: list[tuple[str, Rule, DeliverFn]] = [
            (name, compile_rule(sql), target) for name, sql, target in rules
        ]
        self._host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._workers = delivery_workers
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lifecycle = threading.Lock()
        self._counts_lock = threading.Lock()
        self._received = self._delivered = self._failed = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._stop_requested: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._startup_error: BaseException | None = None

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Start the broker; return once the port accepts connections. Raises GatewayError if it cannot."""
        with self._lifecycle:
            if self._thread is not None:
                return
            for name in ("amqtt", "transitions"):
                if logging.getLogger(name).level == logging.NOTSET:
                    logging.getLogger(name).setLevel(logging.WARNING)
            self._started.clear()
            self._stopping.clear()
            self._startup_error = None
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="iot-rules")
            self._thread = threading.Thread(target=self._run, name="iot-gateway", daemon=True)
            self._thread.start()
            ready = self._started.wait(timeout)
            if ready and self._startup_error is None:
                log.info("IoT gateway listening on %s:%s", self._host, self._bound_port)
                return
            error = self._startup_error
            self._stop_locked(timeout)
        if error is not None:
            msg = f"MQTT gateway could not start on {self._host}:{self._requested_port}: {error}"
            raise GatewayError(msg) from error
        msg = f"MQTT gateway did not start within {timeout} s"
        raise GatewayError(msg)

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect clients, close the port, finish in-flight rule deliveries. Idempotent."""
        with self._lifecycle:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float) -> None:
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        self._stopping.set()  # seen by _serve if it has not reached its wait yet
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stop_requested.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("IoT gateway thread did not stop within %s s", timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._thread = self._loop = self._broker = self._stop_requested = self._executor = None
        self._bound_port = None

    def __enter__(self) -> IotGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (meaningful after :meth:`start`, also when constructed with port 0)."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def running(self) -> bool:
        return self._broker is not None

    @property
    def counters(self) -> GatewayCounters:
        with self._counts_lock:
            return GatewayCounters(self._received, self._delivered, self._failed)

    # the broker's thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(loop))
        except BaseException as exc:  # keep the thread quiet; start()/stop() report
            if not self._started.is_set():
                self._startup_error = exc
            else:
                log.exception("IoT gateway stopped unexpectedly")
        finally:
            self._broker = None
            self._started.set()
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def _broker_config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:{self._requested_port}"}},
            "session_expiry_interval": 3600,  # IoT Core's default persistent-session expiry
            "plugins": {
                "localcloud.device_policy.ClientIdAuthPlugin": {"hub_password": self._hub_password},
                "localcloud.device_policy.DevicePolicyPlugin": {},
                f"{__name__}.RulesEnginePlugin": {},
            },
        }

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stop_requested = asyncio.Event()
        broker = Broker(self._broker_config(), loop=loop)
        for plugin in broker.plugins_manager.plugins:
            if isinstance(plugin, RulesEnginePlugin):
                plugin.gateway = self
        await broker.start()
        try:
            server = broker._servers["default"].instance
            self._bound_port = int(server.sockets[0].getsockname()[1])
            self._broker = broker
            self._started.set()
            if not self._stopping.is_set():
                await self._stop_requested.wait()
        finally:
            self._broker = None
            await broker.shutdown()

    # rules engine (runs on the broker's loop; must stay quick) ---------------------------------------------
    def _on_client_message(self, client_id: str, topic: str, payload: bytes) -> None:
        with self._counts_lock:
            self._received += 1
        now_ms = self._clock_ms()
        for name, rule, target in self._rules:
            try:
                message = rule.evaluate(topic, payload, client_id, now_ms)
            except Exception as exc:
                self._delivery_failed(name, topic, client_id, exc)
                continue
            if message is None:
                continue
            executor = self._executor
            try:
                if executor is None:
                    raise GatewayError("gateway is stopping")
                executor.submit(self._deliver, name, target, message, topic, client_id)
            except RuntimeError as exc:  # executor already shut down
                self._delivery_failed(name, topic, client_id, exc)

    def _deliver(self, name: str, target: DeliverFn, message: dict[str, Any], topic: str, client_id: str) -> None:
        try:
            target(name, message)
        except Exception as exc:
            self._delivery_failed(name, topic, client_id, exc)
        else:
            with self._counts_lock:
                self._delivered += 1

    def _delivery_failed(self, name: str, topic: str, client_id: str, exc: BaseException) -> None:
        with self._counts_lock:
            self._failed += 1
        log.warning(
            "IoT rule %s: delivery failed for topic %s from client %s: %s: %s",
            name,
            topic,
            client_id or "?",
            type(exc).__name__,
            exc,
        )

    # IoT Data plane Publish stand-in ----------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 5.0) -> None:
        """Send a message to the topic's subscribers (as ``iot-data:Publish`` would). Any thread but the
        broker's own; returns once the broker has queued it. The device policy still decides who receives.
        """
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            raise GatewayError("MQTT gateway is not running")
        if threading.current_thread() is self._thread:
            raise GatewayError("publish() must not be called from the gateway's own thread")
        if not topic or "+" in topic or "#" in topic or topic.startswith("$"):
            raise ValueError(f"invalid topic for publish: {topic!r}")
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1 (IoT Core has no QoS 2)")
        future = asyncio.run_coroutine_threadsafe(broker.internal_message_broadcast(topic, bytes(payload), qos), loop)
        future.result(timeout)
