"""What a use case may touch: the ports, built once per container by bootstrap (or as fakes by tests)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from chalicelib.domain.device_messages import ClockWindow
from chalicelib.services.notify_deps import NotifyDeps
from chalicelib.services.offer_cache import OfferCache
from chalicelib.services.terms_cache import TermsCache

if TYPE_CHECKING:  # annotations only: a function imports the ports it uses, not all of them (cold start)
    from chalicelib.ports import (
        AlarmBook,
        CardPayments,
        Catalog,
        CleaningTaskBook,
        Clock,
        Commands,
        Communities,
        DeliveryQueue,
        DeviceEventStore,
        DeviceHealthFlags,
        Devices,
        DoorBook,
        HomeSecurityBook,
        HouseholdBook,
        IdGenerator,
        IrrigationBook,
        Ledger,
        NoticeBoard,
        Orders,
        Partners,
        RecyclingBook,
        Rejects,
        Residents,
        SecretStore,
        StaffRoster,
        ThingRegistry,
        TimerQueue,
        UrlGuard,
        UsageBook,
        WebhookSigner,
        WebhookStore,
        WebhookTransport,
        WeChatJsapi,
        WeChatMiniProgram,
        WeChatPay,
        Withdrawals,
    )


P = TypeVar("P")


def _configured(part: P | None, what: str) -> P:
    """``part``, or RuntimeError when these dependencies were built without it (``what`` is/are …)."""
    if part is None:
        raise RuntimeError(f"{what} not configured in these dependencies")
    return part


@dataclass
class WebhookDeps:
    """What partner webhook delivery touches (services/webhooks.py)."""

    store: WebhookStore
    queue: DeliveryQueue
    transport: WebhookTransport
    guard: UrlGuard
    signer: WebhookSigner
    #: multiplies the retry schedule (settings.webhook_retry_scale; 1.0 in every AWS stage)
    retry_scale: float = 1.0
    #: the jitter source, uniform in [0, 1); tests pin it
    rand: Callable[[], float] = random.random


@dataclass
class OrderDeps:
    """What service orders touch: the catalog, partners, staff, orders and the two payment providers."""

    catalog: Catalog
    partners: Partners
    staff: StaffRoster
    orders: Orders
    jsapi: WeChatJsapi
    card_payments: CardPayments


@dataclass
class Deps:
    clock: Clock
    ids: IdGenerator
    communities: Communities
    devices: Devices
    device_events: DeviceEventStore
    rejects: Rejects
    residents: Residents
    secrets: SecretStore
    wechat: WeChatMiniProgram
    things: ThingRegistry
    ledger: Ledger
    recycling: RecyclingBook
    withdrawals: Withdrawals
    wechatpay: WeChatPay
    clock_window: ClockWindow
    token_ttl_s: int
    #: WeChat subscribe-message template for "回收到账" (recycling credited)
    credit_template_id: str = "recycling-credited"
    #: WeChat subscribe-message template for "订单状态" (order status)
    order_template_id: str = "order-status"
    terms_cache: TermsCache = field(default_factory=TermsCache)
    offer_cache: OfferCache = field(default_factory=OfferCache)
    webhooks: WebhookDeps | None = None
    order_deps: OrderDeps | None = None
    alarm_book: AlarmBook | None = None
    home_security_book: HomeSecurityBook | None = None
    #: timers that must be on time (entry delays, alarm escalation); None: only the minute jobs run them
    timer_queue: TimerQueue | None = None
    device_health_flags: DeviceHealthFlags | None = None
    task_book: CleaningTaskBook | None = None
    door_book: DoorBook | None = None
    usage_book: UsageBook | None = None
    household_book: HouseholdBook | None = None
    irrigation_book: IrrigationBook | None = None
    command_sender: Commands | None = None
    notice_board: NoticeBoard | None = None
    #: the notification fan-out (topic, channels); None: events notify nobody
    notify_deps: NotifyDeps | None = None

    @property
    def alarms(self) -> AlarmBook:
        return _configured(self.alarm_book, "alarms are")

    @property
    def home_security(self) -> HomeSecurityBook:
        return _configured(self.home_security_book, "home security is")

    @property
    def health_flags(self) -> DeviceHealthFlags:
        return _configured(self.device_health_flags, "device health flags are")

    @property
    def tasks(self) -> CleaningTaskBook:
        return _configured(self.task_book, "cleaning tasks are")

    @property
    def doors(self) -> DoorBook:
        return _configured(self.door_book, "doors are")

    @property
    def usage(self) -> UsageBook:
        return _configured(self.usage_book, "meter usage is")

    @property
    def households(self) -> HouseholdBook:
        return _configured(self.household_book, "households are")

    @property
    def irrigation(self) -> IrrigationBook:
        return _configured(self.irrigation_book, "irrigation is")

    @property
    def commands(self) -> Commands:
        return _configured(self.command_sender, "device commands are")

    @property
    def notify(self) -> NotifyDeps:
        return _configured(self.notify_deps, "notifications are")

    @property
    def notices(self) -> NoticeBoard:
        return _configured(self.notice_board, "notices are")

    def _orders(self) -> OrderDeps:
        return _configured(self.order_deps, "service orders are")

    @property
    def catalog(self) -> Catalog:
        return self._orders().catalog

    @property
    def partners(self) -> Partners:
        return self._orders().partners

    @property
    def staff(self) -> StaffRoster:
        return self._orders().staff

    @property
    def orders(self) -> Orders:
        return self._orders().orders

    @property
    def jsapi(self) -> WeChatJsapi:
        return self._orders().jsapi

    @property
    def card_payments(self) -> CardPayments:
        return self._orders().card_payments

    @property
    def url_guard(self) -> UrlGuard:
        """The partner webhook URL guard (registration checks a URL before it stores anything)."""
        return _configured(self.webhooks, "webhook delivery is").guard
