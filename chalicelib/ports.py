"""Protocols for every outside system. Services talk to the world only through these."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from chalicelib.domain.alarms import Alarm, AlarmStatus
from chalicelib.domain.bins import BinState, CleaningTask, TaskStatus
from chalicelib.domain.catalog import Service
from chalicelib.domain.community import Community
from chalicelib.domain.device_messages import DeviceMessage
from chalicelib.domain.devices import Device, DeviceStatus
from chalicelib.domain.doors import AccessEntry, VisitorPass
from chalicelib.domain.irrigation import WaterCommand, Zone
from chalicelib.domain.ledger import Account, Entry, Transfer
from chalicelib.domain.meters import DayUsage, MeterWindow, Placement
from chalicelib.domain.notices import Notice, TvInfo
from chalicelib.domain.notify import QuietHours
from chalicelib.domain.orders import Order
from chalicelib.domain.partners import KeyHash, Partner
from chalicelib.domain.recycling import CommunitySettings, CommunityTerms, WeighinRecord
from chalicelib.domain.rejects import Reject
from chalicelib.domain.security import HomeSecurity
from chalicelib.domain.staff import StaffMember
from chalicelib.domain.webhooks import AttemptRecord, Delivery, SigningSecret, WebhookEndpoint
from chalicelib.domain.withdrawals import Withdrawal

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


class BillState(StrEnum):
    """WeChat Pay transfer-bill states (商家转账 v3), as WeChat spells them."""

    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
    TRANSFERING = "TRANSFERING"  # sic: WeChat's spelling
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class TransferBill:
    out_bill_no: str
    state: BillState
    amount_fen: int
    transfer_bill_no: str | None = None
    package_info: str | None = None
    fail_reason: str | None = None


@dataclass(frozen=True)
class PayNotification:
    """A verified, decrypted WeChat Pay callback."""

    notification_id: str
    event_type: str
    resource: Mapping[str, Any]


class WeChatPay(Protocol):
    """WeChat Pay v3 for the merchant: transfer bills (resident payouts) and their callbacks.

    Errors: ``PayoutAmbiguous`` when WeChat's answer was lost (timeout, connection reset, 5xx, 429)
    and the bill may or may not exist — resolve by querying, never by creating a second bill;
    ``PayoutRefused`` for a definite 4xx refusal (no bill was created).
    """

    def create_transfer_bill(self, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill: ...

    def query_transfer_bill(self, out_bill_no: str) -> TransferBill | None:
        """The bill, or None when WeChat says it does not exist (NOT_FOUND)."""

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBill: ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes, now_s: int) -> PayNotification:
        """Check serial, signature (before parsing) and timestamp (±300 s), then decrypt the resource.

        Raises ``CallbackRejected`` for anything forged, tampered, stale or malformed.
        """


class Ledger(Protocol):
    def transfer(self, transfer: Transfer) -> bool:
        """Move money; False when this business event already did. Raises InsufficientBalance."""

    def balances(self, accounts: Sequence[Account]) -> dict[Account, tuple[int, int]]:
        """(balance, version) per account, in one read."""

    def entries(self, account: Account, limit: int, cursor: str | None) -> Page[Entry]: ...

    def snapshot(self, account: Account) -> tuple[int, list[Entry]]: ...

    def accounts(self) -> Iterator[Account]: ...


@dataclass(frozen=True)
class WeighinContext:
    """Everything crediting a weigh-in needs to know, read in one request."""

    device: Device | None
    seen: bool
    owner_resident_id: str | None  # who has bound the phone, if anyone
    credited_today_fen: int
    terms: CommunityTerms | None  # None unless asked for (the container's cache was cold)


@dataclass(frozen=True)
class DailyCap:
    community_id: str
    phone_key: str
    day: str
    cap_fen: int


class WeighinOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CAP_REACHED = "cap_reached"  # a concurrent credit used up the day's cap
    OWNER_CHANGED = "owner_changed"  # the phone was bound (or rebound) meanwhile


class RecyclingBook(Protocol):
    def load_weighin(self, thing_name: str, event_id: str, cap: DailyCap, with_terms: bool) -> WeighinContext: ...

    def record_weighin(self, message: DeviceMessage, advance_last_seen: bool, record: WeighinRecord,
                       transfer: Transfer | None, cap: DailyCap, event: OutboxEvent | None) -> WeighinOutcome:
        """Seen marker, last_seen, the transfer, the weigh-in, the cap counter and the outbox event:
        one transaction, conditional on the phone still having the owner the credit was computed for."""

    def weighins_of_phone(self, phone_key: str, limit: int, cursor: str | None) -> Page[WeighinRecord]: ...

    def weighins_of_day(self, community_id: str, day: str, limit: int, cursor: str | None) -> Page[WeighinRecord]: ...


class IdempotencyReused(Exception):
    """The resident used this Idempotency-Key before; ``request_hash`` and ``resource_id`` say for what."""

    def __init__(self, request_hash: str, resource_id: str) -> None:
        super().__init__(resource_id)
        self.request_hash = request_hash
        self.resource_id = resource_id


class Withdrawals(Protocol):
    def start(self, withdrawal: Withdrawal, transfer: Transfer, idempotency: tuple[str, str] | None) -> None:
        """Create the withdrawal and move its money wallet → in flight, atomically.

        ``idempotency`` is (key, request hash). Raises InsufficientBalance, or IdempotencyReused.
        """

    def get(self, withdrawal_id: str) -> Withdrawal | None: ...

    def record_bill(self, withdrawal_id: str, bill: TransferBill, now_ms: int) -> Withdrawal | None:
        """Store the bill's package_info while the withdrawal waits for the resident; None if it already ended."""

    def finish(self, withdrawal: Withdrawal, transfer: Transfer, notification_id: str | None) -> bool:
        """End an open withdrawal (status in ``withdrawal``) and move its money; False if it had ended
        already or this notification was applied before — nothing is written then."""

    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Withdrawal]: ...

    def list_open(self, created_before_ms: int, limit: int) -> list[Withdrawal]: ...


# ---------------------------------------------------------------------------------------------- orders
class Catalog(Protocol):
    """A community's services."""

    def put_service(self, service: Service) -> None: ...
    def get_service(self, community_id: str, service_id: str) -> Service | None: ...
    def list_services(self, community_id: str) -> list[Service]: ...


class Partners(Protocol):
    def add(self, partner: Partner) -> None: ...
    def get(self, partner_id: str) -> Partner | None: ...
    def list_for_community(self, community_id: str) -> list[Partner]:
        """Oldest first: offers go to partners in the order they were registered."""

    def set_key_hashes(self, partner_id: str, key_hashes: tuple[KeyHash, ...]) -> None: ...


class StaffRoster(Protocol):
    def add(self, member: StaffMember) -> None: ...
    def list_for_community(self, community_id: str) -> list[StaffMember]: ...


class SaveOutcome(StrEnum):
    SAVED = "saved"
    CONFLICT = "conflict"  # the order changed meanwhile: read it again and decide again
    ALREADY_APPLIED = "already_applied"  # this callback / event id was applied before


@dataclass(frozen=True)
class OrderWrite:
    """One order change and everything that goes with it, written in one transaction."""

    order: Order
    expected_version: int | None  # None: a new order (it must not exist)
    transfers: Sequence[Transfer] = ()
    events: Sequence[OutboxEvent] = ()
    link_partner: str | None = None  # the order was offered to this partner: list it for them
    applied_marker: str | None = None  # the id of the callback / partner event applied by this write
    idempotency: tuple[str, str] | None = None  # (Idempotency-Key, request hash), on create


class Orders(Protocol):
    def save(self, write: OrderWrite) -> SaveOutcome:
        """Raises IdempotencyReused when a create's Idempotency-Key was used before."""

    def get(self, order_id: str) -> Order | None: ...
    def list_for_resident(self, resident_id: str, limit: int, cursor: str | None) -> Page[Order]: ...
    def list_for_partner(self, partner_id: str, limit: int, cursor: str | None) -> Page[Order]: ...
    def staff_work(self, community_id: str, limit: int, cursor: str | None) -> Page[Order]:
        """Orders waiting for the property's own staff (staff services, declined and expired offers)."""

    def due_offers(self, now_ms: int, limit: int) -> list[Order]:
        """Offers whose acceptance deadline has passed."""

    def payments_due(self, created_before_ms: int, limit: int) -> list[Order]:
        """Orders still waiting for payment that were created before ``created_before_ms``."""

    def refunds_pending(self, limit: int) -> list[Order]: ...


# ---------------------------------------------------------------------------------------------- alarms
class AlarmBook(Protocol):
    """Alarms, with at most one not-cleared alarm per (community, dedup key)."""

    def current(self, community_id: str, dedup_key: str) -> Alarm | None:
        """The alarm for this condition that is not cleared yet, if any."""

    def save(self, alarm: Alarm, expected_version: int | None, events: Sequence[OutboxEvent]) -> SaveOutcome:
        """New alarm (``expected_version`` None): CONFLICT if one for its dedup key is open meanwhile.
        Otherwise conditional on the version; clearing frees the dedup key."""

    def get(self, alarm_id: str) -> Alarm | None: ...
    def list_for_community(self, community_id: str, status: AlarmStatus | None, limit: int,
                           cursor: str | None) -> Page[Alarm]: ...
    def due_escalations(self, now_ms: int, limit: int) -> list[Alarm]: ...


# ---------------------------------------------------------------------------------------------- payments
class ChargeState(StrEnum):
    """A resident's payment for an order, provider-neutral."""

    PENDING = "pending"  # created, not paid yet (WeChat NOTPAY/USERPAYING, Stripe requires_*)
    SUCCEEDED = "succeeded"  # money received (WeChat SUCCESS, Stripe succeeded)
    CLOSED = "closed"  # will never be paid (WeChat CLOSED/REVOKED/PAYERROR, Stripe canceled)
    REFUNDED = "refunded"  # WeChat REFUND: paid, then (partly) refunded


@dataclass(frozen=True)
class Charge:
    """A payment at a provider. ``out_trade_no`` is ours (WeChat's 商户订单号; Stripe metadata);
    ``provider_ref`` is theirs (WeChat transaction_id / Stripe PaymentIntent id).
    ``client_params`` is what the mini-program needs to pay: the ``wx.requestPayment`` parameters
    (appId, timeStamp, nonceStr, package, signType, paySign) or ``{"client_secret": ...}`` for Stripe."""

    provider: str  # "wechatpay" | "stripe"
    out_trade_no: str
    amount_fen: int
    state: ChargeState
    provider_ref: str | None = None
    client_params: Mapping[str, str] = field(default_factory=dict)


class RefundState(StrEnum):
    PENDING = "pending"  # WeChat PROCESSING, Stripe pending
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # WeChat ABNORMAL/CLOSED, Stripe failed/canceled


@dataclass(frozen=True)
class Refund:
    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    state: RefundState
    provider_ref: str | None = None


class WeChatJsapi(Protocol):
    """WeChat Pay v3 JSAPI payments (the mini-program pays) and refunds, public-key mode.

    Errors: ``UpstreamUnavailable`` when the answer was lost (timeout, reset, 5xx, 429) — retrying is safe,
    WeChat dedupes by out_trade_no / out_refund_no; ``PaymentRefused`` for a definite 4xx refusal.
    Callbacks (TRANSACTION.SUCCESS, REFUND.SUCCESS/ABNORMAL/CLOSED) are verified with
    ``WeChatPay.verify_notification``.
    """

    def create_jsapi_order(self, out_trade_no: str, openid: str, amount_fen: int, description: str) -> Charge:
        """Place the order (POST /v3/pay/transactions/jsapi) and sign the wx.requestPayment parameters."""

    def query_order(self, out_trade_no: str) -> Charge | None:
        """The order by out_trade_no, or None when WeChat does not know it (ORDER_NOT_EXIST)."""

    def close_order(self, out_trade_no: str) -> None: ...

    def refund(self, out_refund_no: str, out_trade_no: str, amount_fen: int, total_fen: int, reason: str) -> Refund:
        """POST /v3/refund/domestic/refunds; the result may be pending until the refund callback."""

    def query_refund(self, out_refund_no: str) -> Refund | None: ...


@dataclass(frozen=True)
class StripeEvent:
    """A verified Stripe webhook event: ``object`` is ``data.object`` as a plain dict."""

    event_id: str
    type: str
    object: Mapping[str, Any]


class CardPayments(Protocol):
    """Stripe through the official library: PaymentIntents, refunds, Connect transfers, webhooks.

    Every create carries an idempotency key derived from our business key, so a retry after a lost
    answer never makes a second object. Errors: ``UpstreamUnavailable`` (retry is safe),
    ``PaymentRefused`` (a definite 4xx).
    """

    def create_payment_intent(self, out_trade_no: str, amount_fen: int, currency: str,
                              description: str) -> Charge:
        """A PaymentIntent (card), idempotency key ``pi-{out_trade_no}``, metadata ``out_trade_no``;
        ``client_params`` = ``{"client_secret": ..., "payment_intent": id}``."""

    def retrieve_payment_intent(self, payment_intent_id: str) -> Charge: ...

    def refund(self, out_refund_no: str, payment_intent_id: str, amount_fen: int) -> Refund:
        """Idempotency key ``re-{out_refund_no}``, metadata ``out_refund_no``."""

    def transfer(self, settlement_id: str, destination: str, amount_fen: int, currency: str) -> str:
        """A Connect transfer to the partner's account; idempotency key = ``settlement_id``. Returns its id."""

    def verify_webhook(self, body: bytes, signature_header: str | None) -> StripeEvent:
        """``stripe.Webhook.construct_event`` (signature before parsing, 300 s tolerance).
        Raises ``CallbackRejected``."""


# ---------------------------------------------------------------------------------------------- webhooks
@dataclass(frozen=True)
class DeliveryAttempt:
    """What one POST to a partner's endpoint came to."""

    status: int | None  # None: no HTTP answer (timeout, refused, blocked by the address guard)
    latency_ms: int
    response_head: str = ""  # the first 1 KB of the answer body
    error: str | None = None  # "timeout" | "connect_failed" | "unsafe_address: ..." | "redirect" | ...
    retry_after_s: int | None = None  # the Retry-After header, in seconds, when one was given


class WebhookTransport(Protocol):
    """POSTs a signed delivery: re-checks the URL, resolves the host once, refuses any non-public
    address (unless the stage allows loopback), connects to *that* IP (DNS rebinding cannot swap it),
    follows no redirects, 15 s timeout."""

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> DeliveryAttempt: ...


class UrlGuard(Protocol):
    def check(self, url: str) -> None:
        """Raise ``BadInput(code="unsafe_webhook_url")`` unless the URL is allowed for this stage and its
        host resolves only to allowed addresses."""


# ------------------------------------------------------------------------------------- webhook delivery
class WebhookStore(Protocol):
    """Partner webhook endpoints, deliveries and their attempt logs."""

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Raises ``Conflict(code="webhook_endpoint_exists")`` if the partner has one."""

    def get_endpoint(self, partner_id: str) -> WebhookEndpoint | None: ...

    def set_url(self, partner_id: str, url: str) -> None:
        """Raises ``NotFound(code="webhook_endpoint_not_found")``; so do the next three."""

    def set_secrets(self, partner_id: str, secrets: tuple[SigningSecret, ...]) -> None: ...

    def enable(self, partner_id: str) -> None:
        """Active again, with no failure history."""

    def mark_failing(self, partner_id: str, since_ms: int) -> None:
        """Start the endpoint's run of failures at ``since_ms`` unless one is already running."""

    def clear_failing(self, partner_id: str) -> None: ...

    def disable(self, partner_id: str, reason: str, event: OutboxEvent, now_ms: int) -> bool:
        """Disable an active endpoint and write ``event`` (the staff alert) in the same transaction;
        False (nothing written) if it was disabled already."""

    def create_delivery(self, delivery: Delivery) -> bool:
        """False, and nothing written, if a delivery with that message id exists."""

    def get_delivery(self, message_id: str) -> Delivery | None: ...

    def update_delivery(self, previous: Delivery, updated: Delivery, attempt: AttemptRecord | None = None) -> bool:
        """Store ``updated`` (and log ``attempt``) if the stored delivery is still at ``previous.version``;
        the stored version becomes ``previous.version + 1``. False, nothing written, otherwise."""

    def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Pending deliveries whose ``wake_at_ms`` has passed, oldest first."""

    def list_deliveries(self, partner_id: str, limit: int, cursor: str | None) -> Page[Delivery]:
        """A partner's deliveries, newest first."""

    def attempts(self, message_id: str) -> list[AttemptRecord]:
        """A delivery's attempt log (kept 30 days), oldest first."""

    def undelivered_since(self, partner_id: str, since_ms: int, limit: int) -> list[Delivery]:
        """Deliveries created at or after ``since_ms`` that ended ``failed`` or ``endpoint_disabled``."""


class DeliveryQueue(Protocol):
    def send(self, message_id: str, delay_s: int = 0) -> None:
        """Ask the sender to attempt this delivery in ``delay_s`` seconds (at most ``SQS_MAX_DELAY_S``)."""


class WebhookSigner(Protocol):
    def headers(self, message_id: str, timestamp_s: int, body: str, secrets: Sequence[str]) -> dict[str, str]:
        """``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (one ``v1,…`` per secret) and
        ``content-type``."""


# ---------------------------------------------------------------------------------------------- bins
@dataclass(frozen=True)
class BinWrite:
    """A bin's new state and the task it opens or closes, written in one transaction."""

    state: BinState
    expected_version: int  # 0: the bin has no stored state yet
    opened: CleaningTask | None = None
    closed: CleaningTask | None = None
    events: Sequence[OutboxEvent] = ()
    at_ms: int = 0  # when the change happens (the outbox events' time)


class CleaningTaskBook(Protocol):
    """Bins' last applied readings and their cleaning tasks; at most one open task per bin."""

    def bin_state(self, thing_name: str, community_id: str) -> BinState:
        """The stored state, or a fresh one (version 0) for a bin never heard from."""

    def save(self, write: BinWrite) -> SaveOutcome:
        """CONFLICT if the bin's state moved meanwhile, a second task would open or the task is closed."""

    def get_task(self, task_id: str) -> CleaningTask | None: ...
    def list_tasks(self, community_id: str, status: TaskStatus, limit: int,
                   cursor: str | None) -> Page[CleaningTask]: ...


# ---------------------------------------------------------------------------------------------- doors
class DoorBook(Protocol):
    """Door access logs (kept 90 days) and residents' visitor passes."""

    def log_access(self, entry: AccessEntry) -> None:
        """Idempotent: the same (door, ts, thing, event id) is one entry."""

    def access_log(self, community_id: str, door: str, limit: int, cursor: str | None) -> Page[AccessEntry]:
        """Newest first."""

    def refusals(self, community_id: str, door: str, from_ms: int, to_ms: int) -> list[tuple[int, str]]:
        """(ts, event id) of the door's denied entries with from_ms ≤ ts ≤ to_ms."""

    def add_pass(self, visitor_pass: VisitorPass) -> None: ...
    def get_pass(self, pass_id: str) -> VisitorPass | None: ...
    def pass_by_code(self, code_hash: str) -> VisitorPass | None: ...
    def passes_of(self, resident_id: str, limit: int, cursor: str | None) -> Page[VisitorPass]:
        """Newest first."""

    def revoke_pass(self, pass_id: str, at_ms: int) -> None: ...
    def pass_used(self, pass_id: str, entry: AccessEntry) -> None:
        """Count one use of the pass and log it at its door, in one transaction."""


# ------------------------------------------------------------------- home security, timers, device health


class HomeSecurityBook(Protocol):
    """A household's away mode, one item per (community, household)."""

    def get(self, community_id: str, household: str) -> HomeSecurity | None: ...

    def save(self, home: HomeSecurity, expected_version: int | None) -> SaveOutcome:
        """New (``expected_version`` None) or conditional on the version; CONFLICT if it changed meanwhile."""

    def due_entries(self, now_ms: int, limit: int) -> list[HomeSecurity]:
        """Homes whose entry delay ended at or before ``now_ms`` and that are not triggered yet."""


@dataclass(frozen=True)
class Timer:
    """Something to re-check at ``due_ms``: the firing handler judges the state it finds then."""

    kind: str  # alarm_escalation | entry_delay
    subject: Mapping[str, Any]
    due_ms: int


class TimerQueue(Protocol):
    def schedule(self, timer: Timer, now_ms: int) -> None:
        """Deliver the timer at ``due_ms``, or earlier when that is further away than the queue can
        delay (the handler then schedules it again for the rest)."""


class DeviceHealthFlags(Protocol):
    """Marks on a device's own item, so accepting its messages needs no extra read to know whether a
    device-offline alarm is open (``Device.offline_alarm``)."""

    def mark_offline_alarm(self, device: Device) -> None: ...
    def clear_offline_alarm(self, thing_name: str) -> None: ...


class UsageBook(Protocol):
    """Meters' reading windows and households' usage per China day (chalicelib/domain/meters.py)."""

    def window(self, thing_name: str) -> MeterWindow: ...

    def save(self, thing_name: str, community_id: str, household: str | None, unit: str, placement: Placement,
             expected_version: int, now_ms: int) -> SaveOutcome:
        """The new window (conditional on ``expected_version``) and the household's hours (if it has one),
        in one transaction."""

    def days(self, community_id: str, household: str, first_day: str) -> list[DayUsage]:
        """Usage per day and unit from ``first_day`` (YYYYMMDD) on, newest first."""


class HouseholdBook(Protocol):
    """Who lives in a household (written when a resident sets their residence), for alarms about it."""

    def add_resident(self, community_id: str, building: str, room: str, resident_id: str, now_ms: int) -> None: ...
    def residents(self, community_id: str, building: str, room: str) -> list[str]: ...


class IrrigationBook(Protocol):
    def zone(self, community_id: str, zone: str) -> Zone | None: ...
    def zones(self, community_id: str) -> list[Zone]: ...

    def save(self, zone: Zone, expected_version: int | None, command: WaterCommand | None) -> SaveOutcome:
        """The zone's watering state (conditional on its version) and the command issued, if any."""

    def configure(self, zone: Zone) -> Zone:
        """Set the zone's threshold and skip days (staff), creating the zone if needed; the rest stays."""

    def commands(self, community_id: str, limit: int, cursor: str | None) -> Page[WaterCommand]: ...


class Commands(Protocol):
    """Commands to devices on ``cmd/linli/{cid}/{thing}/{command}`` (IoT Data; locally the MQTT broker)."""

    def publish(self, topic: str, payload: bytes) -> None: ...


class NoticeBoard(Protocol):
    def publish(self, notice: Notice, event: OutboxEvent) -> None: ...
    def get(self, community_id: str, notice_id: str) -> Notice | None: ...
    def remove(self, notice: Notice, event: OutboxEvent, now_ms: int) -> None: ...
    def list_for_community(self, community_id: str, limit: int) -> list[Notice]:
        """Newest first."""

    def tv_info(self, community_id: str) -> TvInfo | None: ...
    def set_tv_info(self, community_id: str, info: TvInfo) -> None: ...


# ---------------------------------------------------------------------------------------------- notifications
@dataclass(frozen=True)
class Notification:
    """One outbox event for one audience, as the notification topic carries it to that audience's queue.
    ``key`` is the outbox item's key: channel workers dedupe on it."""

    type: str
    community_id: str
    key: str
    audience: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at_ms: int = 0  # when it was published (stable across the queue's redeliveries)


class Notifier(Protocol):
    """The notification topic (SNS); message attributes ``type``, ``community``, ``audience``."""

    def publish(self, notification: Notification) -> None: ...


class SmsSender(Protocol):
    def send_sms(self, phone: str, text: str) -> None:
        """Hand a text to SMS (SNS ``Publish(PhoneNumber=…)``); raises ``UpstreamUnavailable`` if it failed."""


class MessageHold(Protocol):
    def hold(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        """Keep a received queue message invisible for ``seconds`` (at most 12 h)."""


class Contacts(Protocol):
    """Phone numbers the hub may text, sealed at rest. ``owner`` is ``resident:{id}`` or ``staff:{id}``."""

    def set_phone(self, owner: str, phone: str) -> None: ...
    def phone(self, owner: str) -> str | None: ...


@dataclass(frozen=True)
class InboxItem:
    """One line in a staff member's inbox."""

    staff_id: str
    at_ms: int
    type: str
    community_id: str
    text: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)


class NotifyBook(Protocol):
    """What the notification channels remember: delivery marks (idempotency), residents' subscribe-message
    allowances and quiet hours, who reads notices, staff inboxes, TV feed versions."""

    def claim(self, mark: str, now_ms: int) -> bool:
        """Start sending ``mark`` (channel, outbox key, recipient): False if it was sent already, or an
        attempt that has not timed out is sending it now."""

    def sent(self, mark: str, now_ms: int) -> None: ...
    def release(self, mark: str) -> None:
        """The attempt failed: a redelivery may claim the mark again."""

    def grant(self, resident_id: str, template_ids: Sequence[str]) -> None:
        """One more allowance per template id (a template id twice: two)."""

    def use(self, resident_id: str, template_id: str) -> bool:
        """Take one allowance; False (nothing taken) when none is left."""

    def give_back(self, resident_id: str, template_id: str) -> None: ...
    def use_up(self, resident_id: str, template_id: str) -> None:
        """WeChat says the resident has no allowance (43101): none is left."""

    def allowances(self, resident_id: str) -> dict[str, int]: ...
    def quiet_hours(self, resident_id: str) -> QuietHours | None: ...
    def set_quiet_hours(self, resident_id: str, quiet: QuietHours | None) -> None: ...
    def add_notice_reader(self, community_id: str, resident_id: str, building: str | None) -> None: ...
    def notice_readers(self, community_id: str) -> list[tuple[str, str | None]]:
        """(resident id, building) of the residents who subscribed to the community's notices."""

    def add_to_inbox(self, item: InboxItem) -> None: ...
    def inbox(self, staff_id: str, limit: int, cursor: str | None) -> Page[InboxItem]:
        """Newest first."""

    def refresh_tv(self, community_id: str, now_ms: int) -> int:
        """Record a refresh of the community's TV feed; its new version."""

    def tv_feed(self, community_id: str) -> tuple[int, int] | None:
        """(version, refreshed at ms) of the community's TV feed, or None if never refreshed."""
