"""Powertools Logger, Metrics and Tracer: one of each per container.

Locally (``LINLI_LOG_FORMAT=pretty``) the logger prints one short human line per record instead of
JSON, so the local stack's console reads like a story; in AWS it is structured JSON for CloudWatch.

The Tracer is a powertools ``Tracer`` only where tracing is on (in Lambda, unless
``POWERTOOLS_TRACE_DISABLED``): creating one imports the X-Ray SDK and, through it, all of botocore's
client machinery — about half of a device-events cold start. Where tracing is off (locally, in tests,
or disabled by that variable) powertools' own Tracer would only wrap every captured method in a
subsegment that records nothing, so :class:`UntracedTracer` does the same without importing X-Ray.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

from chalicelib.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

_SKIP = {"level", "location", "message", "timestamp", "service", "sampling_rate", "xray_trace_id",
         "cold_start", "function_name", "function_memory_size", "function_arn", "function_request_id"}


class PrettyFormatter(BasePowertoolsFormatter):
    def __init__(self) -> None:
        super().__init__()
        self._extra: dict[str, Any] = {}

    def append_keys(self, **additional_keys: Any) -> None:
        self._extra.update(additional_keys)

    def clear_state(self) -> None:
        self._extra.clear()

    def remove_keys(self, keys: Any) -> None:
        for key in keys:
            self._extra.pop(key, None)

    def get_current_keys(self) -> dict[str, Any]:
        return dict(self._extra)

    def thread_safe_append_keys(self, **additional_keys: Any) -> None:
        self.append_keys(**additional_keys)

    def thread_safe_get_current_keys(self) -> dict[str, Any]:
        return self.get_current_keys()

    def thread_safe_remove_keys(self, keys: Any) -> None:
        self.remove_keys(keys)

    def thread_safe_clear_keys(self) -> None:
        self.clear_state()

    def format(self, record: Any) -> str:
        fields = {**self._extra}
        extra = getattr(record, "__dict__", {})
        for key, value in extra.items():
            if key not in _SKIP and key not in _STD_ATTRS and not key.startswith("_"):
                fields[key] = value
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None and k not in _SKIP)
        when = self.formatTime(record, "%H:%M:%S")
        return f"{when} {record.levelname:<5} {record.getMessage()}" + (f"  {tail}" if tail else "")


_STD_ATTRS = {"name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
              "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
              "thread", "threadName", "processName", "process", "taskName", "message", "asctime"}


def _make_logger() -> Logger:
    if Settings.from_env().log_format == "pretty":
        return Logger(service="linli", logger_formatter=PrettyFormatter())
    return Logger(service="linli")


class TracerLike(Protocol):
    """The part of powertools' ``Tracer`` the handlers use."""

    def capture_method(self, method: F) -> F: ...


class UntracedTracer:
    """What a disabled powertools ``Tracer`` does — run the method, record nothing — without the X-Ray SDK."""

    disabled = True

    @overload
    def capture_method(self, method: F) -> F: ...

    @overload
    def capture_method(self, method: None = None, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> Callable[[F], F]: ...

    def capture_method(self, method: F | None = None, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> F | Callable[[F], F]:
        if method is None:
            return lambda m: m
        return method

    capture_lambda_handler = capture_method

    def put_annotation(self, key: str, value: Any) -> None:
        """Tracing is off: nothing to annotate."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Tracing is off: nothing to record."""

    def patch(self, modules: Any = None) -> None:
        """Tracing is off: nothing to patch."""


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule (``Tracer._is_tracer_disabled``): off when ``POWERTOOLS_TRACE_DISABLED`` is
    truthy, and off outside Lambda or under SAM local / chalice local."""
    from aws_lambda_powertools.shared import constants
    from aws_lambda_powertools.shared.functions import strtobool

    env = os.environ if env is None else env
    if strtobool(env.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(env.get(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(env.get(constants.SAM_LOCAL_ENV) or env.get(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


def _make_tracer() -> TracerLike:
    if not tracing_enabled():
        return UntracedTracer()
    from aws_lambda_powertools import Tracer  # imports the X-Ray SDK and patches botocore & co. (auto_patch)

    return Tracer(service="linli")


logger = _make_logger()
metrics = Metrics(namespace="Linli", service="linli")
tracer: TracerLike = _make_tracer()
