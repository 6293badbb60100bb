"""Invoking the Chalice app's functions the way Lambda would: real event shapes, a context object,
one invocation at a time per function (like one warm container)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    function_name: str
    timeout_s: int = 60
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    _deadline: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionInvoker:
    """Calls one Chalice-registered function; serialised, as a single Lambda container would be."""

    def __init__(self, name: str, handler: Any, timeout_s: int = 60) -> None:
        self.name = name
        self._handler = handler
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors = 0

    def __call__(self, event: dict[str, Any]) -> Any:
        with self._lock:
            self.invocations += 1
            try:
                return self._handler(event, LambdaContext(self.name, self._timeout_s))
            except Exception:
                self.errors += 1
                raise


class Poller(ABC):
    """A daemon thread that calls ``poll()`` until stopped: the shape of every event source mapping.

    ``poll()`` returns how much it did; when it did nothing the loop idles ``idle_s`` before the next
    call. An exception is logged and the loop backs off a second — a broken poll never kills the part.

    The default idle is Lambda's own polling rate for a DynamoDB stream shard (four times a second). It
    matters more than it looks: everything in the local hub shares one interpreter, and a poller that
    asks the embedded AWS twenty times a second for an empty page (two requests each) takes a sixth of
    the hub's CPU away from the work it is waiting for, and hands its function one record per batch.
    """

    idle_s = 0.25

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def name(self) -> str:
        return self._thread.name

    @abstractmethod
    def poll(self) -> int:
        """Do one round of work; return how many items it handled."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll() == 0:
                    self._stop.wait(self.idle_s)
            except Exception:
                logging.getLogger("localcloud").exception("%s: poll failed", self.name)
                self._stop.wait(1)
