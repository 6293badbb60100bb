"""In-memory fakes of every port in ``chalicelib/ports``, with the DynamoDB adapters' semantics.

The contract tests (tests/integration/test_repository_contract.py) run one suite against these fakes
and against the adapters under moto, so a unit test that passes against a fake says something true
about production. State is plain dictionaries that tests may read; nothing here is mocked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.domain.community import Community
from chalicelib.domain.device_messages import ClockWindow, DeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus, LastEvent
from chalicelib.domain.errors import (
    BadInput,
    Conflict,
    DeviceAlreadyRegistered,
    DeviceUnknown,
    NotFound,
    PhoneTaken,
    UpstreamUnavailable,
    WeChatCodeInvalid,
)
from chalicelib.domain.recycling import CommunitySettings, CommunityTerms
from chalicelib.domain.rejects import Reject
from chalicelib.ports import AppSecrets, OutboxEvent, Page, RecordOutcome, Resident, WeChatSession
from chalicelib.services.deps import Deps
from chalicelib.settings import Settings
from tests.support.money_fakes import (
    FakeLedger,
    FakeRecyclingBook,
    FakeWeChatPay,
    FakeWithdrawals,
    make_money_fakes,
)

T = TypeVar("T")

#: 2026-01-01T00:00:00Z — the fake clock's default "now"
NOW_MS = 1_767_225_600_000
_DEFAULTS = Settings()
CLOCK_WINDOW = ClockWindow(max_age_ms=_DEFAULTS.max_event_age_ms, max_ahead_ms=_DEFAULTS.max_clock_ahead_ms)
TOKEN_TTL_S = _DEFAULTS.token_ttl_s


# ------------------------------------------------------------------------------------ clock and ids


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def set(self, now_ms: int) -> None:
        self.now = now_ms

    def advance(self, ms: int) -> None:
        self.now += ms


class SequentialIds:
    """``{prefix}_000001``, ``{prefix}_000002``, …: deterministic and sortable by creation."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        with self._lock:
            self._next += 1
            return f"{prefix}_{self._next:06d}"


# ---------------------------------------------------------------------------------------- paging


def _encode_cursor(partition: str, after: str) -> str:
    """The adapters' cursor format (paging.py), with the fake's list name and position as the key."""
    return encode_cursor({"list": {"S": partition}, "after": {"S": after}}) or ""


def _decode_cursor(cursor: str | None, partition: str) -> str | None:
    """Like the adapters: garbage, or a cursor of another list, is bad input."""
    key = decode_cursor(cursor, "list", partition)
    if key is None:
        return None
    after = key.get("after")
    if not isinstance(after, dict) or not isinstance(after.get("S"), str):
        raise BadInput("cursor does not belong to this list", code="invalid_cursor")
    return str(after["S"])


def paginate(items: list[T], sort_key: Callable[[T], str], partition: str, limit: int, cursor: str | None,
             newest_first: bool = False) -> Page[T]:
    after = _decode_cursor(cursor, partition)
    ordered = sorted(items, key=sort_key, reverse=newest_first)
    if after is not None:
        ordered = [item for item in ordered if (sort_key(item) < after if newest_first else sort_key(item) > after)]
    chunk = ordered[:limit]
    more = len(ordered) > limit
    return Page(items=chunk, next_cursor=_encode_cursor(partition, sort_key(chunk[-1])) if more else None)


# -------------------------------------------------------------------------------------- repositories


class FakeCommunities:
    def __init__(self) -> None:
        self.items: dict[str, Community] = {}
        self.stored_terms: dict[str, CommunityTerms] = {}

    def terms(self, community_id: str) -> CommunityTerms:
        return self.stored_terms.get(community_id, CommunityTerms())

    def set_prices(self, community_id: str, prices: Mapping[str, int]) -> None:
        self.stored_terms[community_id] = dataclasses.replace(self.terms(community_id), prices=dict(prices))

    def set_settings(self, community_id: str, settings: CommunitySettings) -> None:
        self.stored_terms[community_id] = dataclasses.replace(self.terms(community_id), settings=settings)

    def add(self, community: Community) -> None:
        if community.community_id in self.items:
            raise Conflict("community already exists", code="community_exists")
        self.items[community.community_id] = community

    def get(self, community_id: str) -> Community | None:
        return self.items.get(community_id)

    def list_all(self, limit: int, cursor: str | None) -> Page[Community]:
        return paginate(list(self.items.values()), lambda c: c.community_id, "COMMUNITIES", limit, cursor)


class FakeDevices:
    """Devices, and the outbox events written in the same "transaction" as a registration."""

    def __init__(self) -> None:
        self.items: dict[str, Device] = {}
        self.outbox: list[OutboxEvent] = []
        self.lock = threading.RLock()

    def register(self, device: Device, event: OutboxEvent) -> None:
        with self.lock:
            if device.thing_name in self.items:
                raise DeviceAlreadyRegistered(f"thing name {device.thing_name!r} is already registered")
            self.items[device.thing_name] = device
            self.outbox.append(event)

    def get(self, thing_name: str) -> Device | None:
        return self.items.get(thing_name)

    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Device]:
        mine = [d for d in self.items.values() if d.community_id == community_id]
        return paginate(mine, lambda d: d.thing_name, f"COMMUNITY#{community_id}#DEVICES", limit, cursor)

    def set_status(self, thing_name: str, status: DeviceStatus) -> None:
        with self.lock:
            device = self.items.get(thing_name)
            if device is None:
                raise DeviceUnknown(f"no device {thing_name!r}")
            self.items[thing_name] = dataclasses.replace(device, status=status)

    def clear_provisioning(self, thing_name: str) -> None:
        with self.lock:
            device = self.items.get(thing_name)
            if device is None:
                raise DeviceUnknown(f"no device {thing_name!r}")
            self.items[thing_name] = dataclasses.replace(device, certificate_id=None, provisioned_at_ms=None)


class FakeDeviceEventStore:
    """Exactly-once bookkeeping over the same devices as ``FakeDevices`` (one table in DynamoDB)."""

    def __init__(self, devices: FakeDevices) -> None:
        self.devices = devices
        #: (thing name, event id) → the message that was recorded
        self.seen: dict[tuple[str, str], DeviceMessage] = {}

    def load(self, thing_name: str, event_id: str) -> tuple[Device | None, bool]:
        with self.devices.lock:
            return self.devices.items.get(thing_name), (thing_name, event_id) in self.seen

    def record(self, message: DeviceMessage, advance_last_seen: bool) -> RecordOutcome:
        with self.devices.lock:
            key = (message.thing_name, message.event_id)
            if key in self.seen:
                return RecordOutcome.DUPLICATE
            self.seen[key] = message
            device = self.devices.items.get(message.thing_name)
            # The adapter's condition: only a strictly newer receipt moves last_seen (never backwards).
            if advance_last_seen and device is not None and (
                    device.last_seen_ms is None or device.last_seen_ms < message.received_at_ms):
                self.devices.items[message.thing_name] = dataclasses.replace(
                    device, last_seen_ms=message.received_at_ms,
                    last_event=LastEvent(kind=message.kind, event_id=message.event_id, ts_ms=message.ts_ms))
            return RecordOutcome.RECORDED


class FakeRejects:
    def __init__(self) -> None:
        #: (community id, sort key) → reject; the sort key is the adapter's: receipt time + content hash
        self.items: dict[tuple[str, str], Reject] = {}

    @staticmethod
    def sort_key(reject: Reject) -> str:
        digest = hashlib.sha256(f"{reject.topic}\n{reject.client_id}\n{reject.payload}".encode()).hexdigest()[:16]
        return f"{reject.received_at_ms:013d}#{digest}"

    def add(self, reject: Reject) -> None:
        """A redelivered message rewrites the same record, as in the adapter."""
        self.items[(reject.community_id, self.sort_key(reject))] = reject

    def list_for_community(self, community_id: str, limit: int, cursor: str | None) -> Page[Reject]:
        mine = [r for (cid, _), r in self.items.items() if cid == community_id]
        return paginate(mine, self.sort_key, f"REJECTS#{community_id}", limit, cursor, newest_first=True)

    def all(self) -> list[Reject]:
        return list(self.items.values())


class FakeResidents:
    def __init__(self) -> None:
        self.items: dict[str, Resident] = {}
        self.session_keys: dict[str, str] = {}
        #: phone key → the resident holding it
        self.phones: dict[str, str] = {}

    def login(self, resident: Resident, session_key: str) -> Resident:
        existing = self.items.get(resident.resident_id)
        stored = resident if existing is None else dataclasses.replace(existing, openid=resident.openid)
        self.items[resident.resident_id] = stored
        self.session_keys[resident.resident_id] = session_key
        return stored

    def get(self, resident_id: str) -> Resident | None:
        return self.items.get(resident_id)

    def bind_phone(self, resident_id: str, phone_key: str, phone_masked: str) -> None:
        current = self.items.get(resident_id)
        if current is None:
            raise NotFound("resident not found", code="resident_not_found")
        if current.phone_key == phone_key:
            return
        holder = self.phones.get(phone_key)
        if holder is not None and holder != resident_id:
            raise PhoneTaken("this phone number is bound to another resident")
        if current.phone_key is not None:
            self.phones.pop(current.phone_key, None)
        self.phones[phone_key] = resident_id
        self.items[resident_id] = dataclasses.replace(current, phone_key=phone_key, phone_masked=phone_masked)

    def set_residence(self, resident_id: str, community_id: str, building: str, room: str) -> None:
        current = self.items[resident_id]
        self.items[resident_id] = dataclasses.replace(current, community_id=community_id, building=building,
                                                      room=room)


# ------------------------------------------------------------------------------- outside systems

SIGNING_KEY = b"unit-test-signing-key-k1"
PHONE_PEPPER = b"unit-test-phone-pepper"
ADMIN_TOKEN = "unit-test-admin-token"


class FakeSecretStore:
    def __init__(self, secrets: AppSecrets | None = None) -> None:
        self.secrets = secrets or AppSecrets(token_keys={"k1": SIGNING_KEY}, current_kid="k1",
                                             phone_pepper=PHONE_PEPPER, admin_token=ADMIN_TOKEN)

    def app_secrets(self) -> AppSecrets:
        return self.secrets

    def rotate(self, kid: str, key: bytes, keep_previous: bool = True) -> None:
        """Sign with a new key from now on; the old keys keep verifying unless told otherwise."""
        keys: Mapping[str, bytes] = {**self.secrets.token_keys, kid: key} if keep_previous else {kid: key}
        self.secrets = dataclasses.replace(self.secrets, token_keys=keys, current_kid=kid)


class FakeWeChat:
    """The sandbox's conventions (DESIGN §5): ``sandbox-<openid>`` logs in, ``sandbox-phone-<n>`` is phone n."""

    LOGIN_PREFIX = "sandbox-"
    PHONE_PREFIX = "sandbox-phone-"

    def __init__(self, appid: str = "wx-linli-test") -> None:
        self._appid = appid
        #: set to make every call fail as if WeChat were down
        self.down = False
        self.codes_seen: list[str] = []
        #: subscribe messages sent: (openid, template_id, data)
        self.messages: list[tuple[str, str, dict[str, Any]]] = []

    @property
    def appid(self) -> str:
        return self._appid

    def code_to_session(self, code: str) -> WeChatSession:
        self._check_up(code)
        openid = code.removeprefix(self.LOGIN_PREFIX)
        if not code.startswith(self.LOGIN_PREFIX) or code.startswith(self.PHONE_PREFIX) or not openid:
            raise WeChatCodeInvalid("WeChat says the login code is invalid", code="invalid_code")
        return WeChatSession(openid=openid, session_key=f"session-key-of-{openid}")

    def phone_number(self, code: str) -> str:
        self._check_up(code)
        phone = code.removeprefix(self.PHONE_PREFIX)
        if not code.startswith(self.PHONE_PREFIX) or not phone:
            raise WeChatCodeInvalid("WeChat says the phone code is invalid", code="invalid_code")
        return phone

    def send_subscribe_message(self, openid: str, template_id: str, data: Mapping[str, Any],
                               page: str | None = None) -> int:
        self._check_up(openid)
        self.messages.append((openid, template_id, dict(data)))
        return len(self.messages)

    def _check_up(self, code: str) -> None:
        self.codes_seen.append(code)
        if self.down:
            raise UpstreamUnavailable("WeChat is unavailable")


class FakeThingRegistry:
    def __init__(self) -> None:
        #: thing name → its attributes
        self.things: dict[str, dict[str, str]] = {}

    def ensure_thing(self, thing_name: str, community_id: str, device_type: str) -> None:
        self.things[thing_name] = {"community_id": community_id, "device_type": device_type}


# --------------------------------------------------------------------------------------- assembly


@dataclasses.dataclass
class Fakes:
    """Every fake, typed, plus the ``Deps`` made of them (what services take)."""

    clock: FakeClock
    ids: SequentialIds
    communities: FakeCommunities
    devices: FakeDevices
    device_events: FakeDeviceEventStore
    rejects: FakeRejects
    residents: FakeResidents
    secrets: FakeSecretStore
    wechat: FakeWeChat
    things: FakeThingRegistry
    ledger: FakeLedger
    recycling: FakeRecyclingBook
    withdrawals: FakeWithdrawals
    wechatpay: FakeWeChatPay
    deps: Deps


def make_fakes(now_ms: int = NOW_MS, clock_window: ClockWindow = CLOCK_WINDOW,
               token_ttl_s: int = TOKEN_TTL_S) -> Fakes:
    devices = FakeDevices()
    parts: dict[str, Any] = {
        "clock": FakeClock(now_ms), "ids": SequentialIds(), "communities": FakeCommunities(),
        "devices": devices, "device_events": FakeDeviceEventStore(devices), "rejects": FakeRejects(),
        "residents": FakeResidents(), "secrets": FakeSecretStore(), "wechat": FakeWeChat(),
        "things": FakeThingRegistry(),
    }
    money = make_money_fakes(devices, parts["residents"], parts["communities"], parts["device_events"].seen)
    parts.update(ledger=money.ledger, recycling=money.recycling, withdrawals=money.withdrawals,
                 wechatpay=money.wechatpay)
    deps = Deps(**parts, clock_window=clock_window, token_ttl_s=token_ttl_s)
    return Fakes(**parts, deps=deps)


def make_deps(**overrides: Any) -> Deps:
    """``Deps`` of fresh fakes; any port (or ``clock_window`` / ``token_ttl_s``) may be given instead.

    A given ``FakeDevices`` without a given event store gets an event store over those same devices.
    """
    deps = make_fakes().deps
    devices = overrides.get("devices")
    if isinstance(devices, FakeDevices) and "device_events" not in overrides:
        overrides["device_events"] = FakeDeviceEventStore(devices)
    return dataclasses.replace(deps, **overrides)
