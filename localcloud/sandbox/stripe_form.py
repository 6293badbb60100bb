"""Stripe's request encoding and parameter errors, for the sandbox.

The official libraries send v1 parameters form-encoded with bracketed nesting: ``metadata[out_trade_no]=x``,
``expand[0]=latest_charge``, ``payment_method_types[0]=card``. ``decode_form`` turns those pairs back into
dicts and lists; the ``*_param`` helpers answer bad values with Stripe's error shape
``{"error": {"type", "code", "message", "param"}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from localcloud.sandbox.routing import Response

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
CURRENCY = re.compile(r"[a-z]{3}")
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500


class StripeError(Exception):
    """Answered as ``{"error": {...}}`` with ``status``."""

    def __init__(self, status: int, type_: str, message: str, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = status, type_, message, code, param

    def response(self, headers: Mapping[str, str]) -> Response:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        body = json.dumps({"error": error}, ensure_ascii=False).encode()
        return Response(self.status, body, headers=dict(headers))


def invalid(message: str, code: str | None = None, param: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code, param)


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0]=v`` pairs → ``{"a": {"b": ["v"]}}``; a dict whose keys are all indexes becomes a list."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.fullmatch(raw_key)
        if match is None:
            raise invalid(f"Invalid parameter name: {raw_key}", "parameter_unknown", raw_key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid parameter: {'.'.join(path[:depth + 1])} is not an object",
                              "parameter_invalid_empty", raw_key)
            node = child
        node[path[-1]] = value
    listified: dict[str, Any] = _listify(root)
    return listified


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def check_known(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    for name in params:
        if name not in allowed:
            raise invalid(f"Received unknown parameter: {name}", "parameter_unknown", name)


def int_param(params: Mapping[str, Any], name: str, required: bool = True, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid(f"Missing required param: {name}.", "parameter_missing", name)
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d{1,15}", raw):
        raise invalid(f"Invalid integer: {raw}", "parameter_invalid_integer", name)
    if int(raw) < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", "parameter_invalid_integer", name)
    return int(raw)


def str_param(params: Mapping[str, Any], name: str, required: bool = False, max_len: int = 5000) -> str | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid(f"Missing required param: {name}.", "parameter_missing", name)
        return None
    if not isinstance(raw, str) or len(raw) > max_len:
        raise invalid(f"Invalid string: {name} must be at most {max_len} characters", "parameter_invalid_string",
                      name)
    return raw


def currency_param(params: Mapping[str, Any]) -> str:
    currency = (str_param(params, "currency", required=True) or "").lower()
    if not CURRENCY.fullmatch(currency):
        raise invalid(f"Invalid currency: {currency}.", "parameter_invalid_string", "currency")
    return currency


def metadata_param(params: Mapping[str, Any]) -> dict[str, str]:
    raw = params.get("metadata", {})
    if raw == "":
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise invalid("Invalid object: metadata must be a hash of strings", "parameter_invalid_string", "metadata")
    if len(raw) > METADATA_MAX_KEYS or any(len(k) > METADATA_KEY_MAX or len(v) > METADATA_VALUE_MAX
                                           for k, v in raw.items()):
        raise invalid(f"Metadata allows up to {METADATA_MAX_KEYS} keys of {METADATA_KEY_MAX} characters and values "
                      f"of {METADATA_VALUE_MAX} characters.", "parameter_invalid_string", "metadata")
    return {k: v for k, v in raw.items() if v != ""}


def expand_param(params: Mapping[str, Any], expandable: Iterable[str]) -> list[str]:
    raw = params.get("expand", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise invalid("Invalid array: expand", "parameter_invalid_string", "expand")
    allowed = set(expandable)
    for field in raw:
        if field not in allowed:
            raise invalid(f"This property cannot be expanded ({field}).", "parameter_invalid_string", "expand")
    return list(raw)
