"""Fault switches: make an outside system answer "system busy", hang, or fail over HTTP, n times.

``POST /_sandbox/faults`` ``{"<point>": {"mode": "error"|"timeout"|"http_error", "count": n|null,
"delay_s"?, "errcode"?, "errmsg"?, "status"?, "code"?}}``; ``count`` null means until
``DELETE /_sandbox/faults``. Modules declare their points (``wechat.jscode2session``, ...) and call
``Faults.apply`` on each request. A point that is not a request (an outgoing callback) declares its own
modes (``duplicate``, ``delay``) and acts them out itself with ``Faults.take``; arming a point with a
mode it did not declare is a 400.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.sandbox.routing import HttpError, Response

MAX_FAULT_DELAY_S = 120.0
#: what a request point can do: answer an error, hang, or answer a bare HTTP error status
REQUEST_MODES = ("error", "timeout", "http_error")
#: every mode some point may declare: ``duplicate`` / ``delay`` are for outgoing callbacks
FAULT_MODES = (*REQUEST_MODES, "duplicate", "delay")


@dataclass
class Fault:
    """An armed fault: ``remaining`` None means until disarmed."""

    mode: str
    remaining: int | None = 1
    delay_s: float = 10.0
    errcode: int = -1
    errmsg: str = "system error"
    status: int = 503
    code: str | None = None  # a string error code, for APIs that use them (WeChat Pay: "SYSTEM_ERROR")

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.remaining,
            "delay_s": self.delay_s,
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "status": self.status,
            "code": self.code,
        }


def parse_fault(point: str, spec: Any) -> Fault:
    if not isinstance(spec, dict):
        raise HttpError(400, "bad_fault", f"{point}: fault must be an object")
    mode = spec.get("mode")
    if mode not in FAULT_MODES:
        raise HttpError(400, "bad_fault", f"{point}: mode must be one of {list(FAULT_MODES)}")
    count = spec.get("count", 1)
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise HttpError(400, "bad_fault", f"{point}: count must be a positive integer or null (forever)")
    delay = spec.get("delay_s", 10.0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= MAX_FAULT_DELAY_S:
        raise HttpError(400, "bad_fault", f"{point}: delay_s must be within 0..{MAX_FAULT_DELAY_S}")
    errcode = spec.get("errcode", -1)
    status = spec.get("status", 503)
    if not isinstance(errcode, int) or not isinstance(status, int) or not 400 <= status <= 599:
        raise HttpError(400, "bad_fault", f"{point}: errcode must be an int, status an HTTP error status")
    errmsg = spec.get("errmsg", "system error")
    code = spec.get("code")
    if code is not None and (not isinstance(code, str) or not code):
        raise HttpError(400, "bad_fault", f"{point}: code must be a non-empty string")
    return Fault(mode, count, float(delay), errcode, str(errmsg), status, code)


class Faults:
    """Thread-safe fault switches, keyed by fault point (e.g. ``wechat.jscode2session``)."""

    def __init__(self, stopping: threading.Event) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, tuple[str, ...]] = {}  # point -> the modes it can act out
        self._armed: dict[str, Fault] = {}
        self._stopping = stopping

    @property
    def stopping(self) -> threading.Event:
        """Set while the server stops: background work (callback deliveries) waits on it and ends."""
        return self._stopping

    def declare(self, *points: str, modes: Iterable[str] = REQUEST_MODES) -> None:
        allowed = tuple(modes)
        if unknown := sorted(set(allowed) - set(FAULT_MODES)):
            raise ValueError(f"unknown fault modes {unknown}")
        with self._lock:
            self._points.update(dict.fromkeys(points, allowed))

    def points(self) -> list[str]:
        with self._lock:
            return sorted(self._points)

    def arm(self, faults: Mapping[str, Fault]) -> None:
        """Arm all or (on an unknown point, or a mode the point cannot act out) none."""
        with self._lock:
            unknown = sorted(set(faults) - set(self._points))
            if unknown:
                raise HttpError(400, "unknown_fault_point", f"{unknown}; known: {sorted(self._points)}")
            for point, fault in faults.items():
                if fault.mode not in self._points[point]:
                    raise HttpError(400, "bad_fault", f"{point}: mode must be one of {list(self._points[point])}")
            self._armed.update(faults)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def armed(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {point: fault.describe() for point, fault in self._armed.items()}

    def take(self, point: str) -> Fault | None:
        """Consume one shot of the fault armed at ``point``, if any."""
        with self._lock:
            fault = self._armed.get(point)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._armed[point]
            return fault

    def apply(self, point: str, error: Callable[[Fault], Response]) -> Response | None:
        """Act out the fault at ``point``: the response to send instead, or None to answer normally.

        ``timeout`` hangs for ``delay_s`` (released early when the server stops) and then answers
        normally — by then the client has given up. ``error`` answers ``error(fault)``;
        ``http_error`` answers a bare HTTP error status.
        """
        fault = self.take(point)
        if fault is None:
            return None
        if fault.mode == "timeout":
            self._stopping.wait(fault.delay_s)
            return None
        if fault.mode == "http_error":
            return Response(fault.status, b"<html><body>sandbox fault</body></html>", "text/html")
        return error(fault)
