"""The hub's own plumbing: paging, clock and ids, the outbox, communities, devices, residents, secrets, WeChat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from chalicelib.domain.community import Community
from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus
from chalicelib.domain.recycling import CommunitySettings, CommunityTerms
from chalicelib.domain.rejects import Reject

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None = None


class Clock(Protocol):
    def now_ms(self) -> int: ...


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str: ...


@dataclass(frozen=True)
class OutboxEvent:
    """A domain event written in the same transaction as the change that caused it."""

    type: str
    community_id: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)


class Communities(Protocol):
    def add(self, community: Community) -> None: ...
    def get(self, community_id: str) -> Community | None: ...
    def list_all(self, limit: int, cursor: str | None) -> Page[Community]: ...
    def terms(self, community_id: str) -> CommunityTerms: ...
    def set_prices(self, community_id: str, prices: Mapping[str, int]) -> None: ...
    def set_settings(self, community_id: str, settings: CommunitySettings) -> None: ...


class Devices(Protocol):
    def register(self, device: Device, event: OutboxEvent) -> None:
        """Raises DeviceAlreadyRegistered if the thing name is taken anywhere."""

    def get(self, thing_name: str) -> Device | None: ...
    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Device]: ...
    def set_status(self, thing_name: str, status: DeviceStatus) -> None: ...
    def clear_provisioning(self, thing_name: str) -> None:
        """Forget the certificate fleet provisioning accepted for the device (DeviceUnknown if none)."""


class RecordOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


class DeviceEventStore(Protocol):
    """Exactly-once bookkeeping of device messages, keyed by (thing name, event id)."""

    def load(self, thing_name: str, event_id: str) -> tuple[Device | None, bool]:
        """The device and whether this event was already processed — one read request."""

    def record(self, message: DeviceMessage, advance_last_seen: bool) -> RecordOutcome:
        """Mark the event processed and update the device's last_seen / last event, atomically."""


class Rejects(Protocol):
    def add(self, reject: Reject) -> None: ...
    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Reject]: ...


@dataclass(frozen=True)
class Resident:
    resident_id: str
    openid: str
    created_at_ms: int
    phone_masked: str | None = None
    phone_key: str | None = None
    community_id: str | None = None  # where the resident lives (PUT /v1/me/residence)
    building: str | None = None
    room: str | None = None


class Residents(Protocol):
    def login(self, resident: Resident, session_key: str) -> Resident:
        """Create the resident on first login (idempotently) and store the WeChat session key."""

    def get(self, resident_id: str) -> Resident | None: ...

    def bind_phone(self, resident_id: str, phone_key: str, phone_masked: str) -> None:
        """Raises PhoneTaken if another resident holds that phone."""

    def set_residence(self, resident_id: str, community_id: str, building: str, room: str) -> None: ...


@dataclass(frozen=True)
class AppSecrets:
    token_keys: Mapping[str, bytes]
    current_kid: str
    phone_pepper: bytes
    admin_token: str


class SecretStore(Protocol):
    def app_secrets(self) -> AppSecrets: ...


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None = None


class WeChatMiniProgram(Protocol):
    """The mini-program's server APIs (login, phone number, subscribe messages)."""

    @property
    def appid(self) -> str: ...

    def code_to_session(self, code: str) -> WeChatSession:
        """Raises WeChatCodeInvalid for a bad code, UpstreamUnavailable when WeChat fails."""

    def phone_number(self, code: str) -> str:
        """The pure (no country code) phone number WeChat returns for a getPhoneNumber code."""

    def send_subscribe_message(self, openid: str, template_id: str, data: Mapping[str, Any],
                               page: str | None = None) -> int:
        """Send a one-time subscribe message; its msgid. BadInput(subscribe_refused) without consent."""


class ThingRegistry(Protocol):
    """IoT Core's thing registry: a registered device becomes a thing that may connect."""

    def ensure_thing(self, thing_name: str, community_id: str, device_type: str) -> None: ...


class IdempotencyReused(Exception):
    """The resident used this Idempotency-Key before; ``request_hash`` and ``resource_id`` say for what."""

    def __init__(self, request_hash: str, resource_id: str) -> None:
        super().__init__(resource_id)
        self.request_hash = request_hash
        self.resource_id = resource_id


class SaveOutcome(StrEnum):
    SAVED = "saved"
    CONFLICT = "conflict"  # the order changed meanwhile: read it again and decide again
    ALREADY_APPLIED = "already_applied"  # this callback / event id was applied before
