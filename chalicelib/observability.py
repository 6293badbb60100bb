"""Powertools Logger, Metrics and Tracer: one of each per container.

Locally (``LINLI_LOG_FORMAT=pretty``) the logger prints one short human line per record instead of
JSON, so the local stack's console reads like a story; in AWS it is structured JSON for CloudWatch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

from chalicelib.settings import Settings

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


logger = _make_logger()
metrics = Metrics(namespace="Linli", service="linli")
tracer = Tracer(service="linli")
