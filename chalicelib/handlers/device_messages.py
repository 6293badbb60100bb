"""Parse what the IoT rule put on the queue into a typed ``DeviceMessage`` — or say why not.

Readings are validated in pydantic's strict mode against the domain's dataclasses: ``"2350"`` is not a
weight and ``2350.0`` is not an integer number of grams. Unknown extra fields are ignored so that newer
firmware can add fields without being rejected.

The pydantic models are built on first use, not at import: importing pydantic and building the models
is a large share of this function's cold start, and the module is imported by every function of the app.
``Envelope`` and ``Header`` are still attributes of this module (built when first asked for).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import typing
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.domain.device_messages import (
    MAX_EVENT_ID_LENGTH,
    READING_BY_KIND,
    DeviceMessage,
    RawDeviceMessage,
    Reading,
    parse_topic,
)
from chalicelib.domain.rejects import Rejected, RejectReason
from chalicelib.validation import validation_message

if TYPE_CHECKING:
    from pydantic import BaseModel


@cache
def _envelope_model() -> type[BaseModel]:
    from pydantic import BaseModel, ConfigDict

    class Envelope(BaseModel):
        """The SELECT of every device topic rule (infra/template.yaml)."""

        model_config = ConfigDict(extra="ignore")
        payload_b64: str
        topic: str
        client_id: str | None = None
        received_at: int

    Envelope.__module__, Envelope.__qualname__ = __name__, "Envelope"
    return Envelope


@cache
def _header_model() -> type[BaseModel]:
    from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

    class Header(BaseModel):
        model_config = ConfigDict(extra="ignore", strict=True)
        event_id: StrictStr = Field(min_length=1, max_length=MAX_EVENT_ID_LENGTH)
        ts: StrictInt

    Header.__module__, Header.__qualname__ = __name__, "Header"
    return Header


_LAZY_MODELS = {"Envelope": _envelope_model, "Header": _header_model}


def __getattr__(name: str) -> Any:
    """``Envelope`` and ``Header``, built on first access."""
    if name in _LAZY_MODELS:
        return _LAZY_MODELS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _reading_model(kind: str) -> type[BaseModel]:
    """A strict pydantic model with the fields of the domain's reading dataclass for ``kind``."""
    from pydantic import ConfigDict, create_model

    cls = READING_BY_KIND[kind]
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(cls)}
    config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)
    return create_model(f"{cls.__name__}Payload", __config__=config, **fields)


def _reading(kind: str, obj: dict[str, Any]) -> Reading:
    validated = _reading_model(kind).model_validate(obj)
    return READING_BY_KIND[kind](**{name: getattr(validated, name) for name in type(validated).model_fields})


def parse_envelope(body: str) -> RawDeviceMessage:
    model = _envelope_model()
    from pydantic import ValidationError

    try:
        envelope: Any = model.model_validate_json(body)
        data = base64.b64decode(envelope.payload_b64, validate=True)
    except (ValidationError, ValueError, binascii.Error) as exc:
        raise Rejected(RejectReason.MALFORMED_ENVELOPE, f"queue message is not a device envelope: {exc}") from exc
    try:
        payload = data.decode("utf-8")
    except UnicodeDecodeError:
        payload = "base64:" + envelope.payload_b64
    return RawDeviceMessage(topic=envelope.topic, payload=payload, client_id=envelope.client_id,
                            received_at_ms=envelope.received_at)


def parse_message(raw: RawDeviceMessage) -> DeviceMessage:
    topic = parse_topic(raw.topic)
    if topic.kind not in READING_BY_KIND:
        raise Rejected(RejectReason.UNKNOWN_KIND, f"unknown message kind {topic.kind!r}")
    try:
        obj = json.loads(raw.payload)
    except ValueError as exc:
        raise Rejected(RejectReason.MALFORMED_JSON, f"payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise Rejected(RejectReason.MALFORMED_JSON, "payload must be a JSON object")
    header_model = _header_model()
    from pydantic import ValidationError

    try:
        header: Any = header_model.model_validate(obj)
        reading = _reading(topic.kind, obj)
    except ValidationError as exc:
        raise Rejected(RejectReason.INVALID_FIELDS, validation_message(exc)) from exc
    return DeviceMessage(community_id=topic.community_id, thing_name=topic.thing_name, kind=topic.kind,
                         event_id=header.event_id, ts_ms=header.ts, received_at_ms=raw.received_at_ms,
                         client_id=raw.client_id, reading=reading)
