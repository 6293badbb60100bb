"""What a use case may touch: the ports, built once per container by bootstrap (or as fakes by tests)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
        if self.alarm_book is None:
            raise RuntimeError("alarms are not configured in these dependencies")
        return self.alarm_book

    @property
    def home_security(self) -> HomeSecurityBook:
        if self.home_security_book is None:
            raise RuntimeError("home security is not configured in these dependencies")
        return self.home_security_book

    @property
    def health_flags(self) -> DeviceHealthFlags:
        if self.device_health_flags is None:
            raise RuntimeError("device health flags are not configured in these dependencies")
        return self.device_health_flags

    @property
    def tasks(self) -> CleaningTaskBook:
        if self.task_book is None:
            raise RuntimeError("cleaning tasks are not configured in these dependencies")
        return self.task_book

    @property
    def doors(self) -> DoorBook:
        if self.door_book is None:
            raise RuntimeError("doors are not configured in these dependencies")
        return self.door_book

    @property
    def usage(self) -> UsageBook:
        if self.usage_book is None:
            raise RuntimeError("meter usage is not configured in these dependencies")
        return self.usage_book

    @property
    def households(self) -> HouseholdBook:
        if self.household_book is None:
            raise RuntimeError("households are not configured in these dependencies")
        return self.household_book

    @property
    def irrigation(self) -> IrrigationBook:
        if self.irrigation_book is None:
            raise RuntimeError("irrigation is not configured in these dependencies")
        return self.irrigation_book

    @property
    def commands(self) -> Commands:
        if self.command_sender is None:
            raise RuntimeError("device commands are not configured in these dependencies")
        return self.command_sender

    @property
    def notify(self) -> NotifyDeps:
        if self.notify_deps is None:
            raise RuntimeError("notifications are not configured in these dependencies")
        return self.notify_deps

    @property
    def notices(self) -> NoticeBoard:
        if self.notice_board is None:
            raise RuntimeError("notices are not configured in these dependencies")
        return self.notice_board

    def _orders(self) -> OrderDeps:
        if self.order_deps is None:
            raise RuntimeError("service orders are not configured in these dependencies")
        return self.order_deps

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
        if self.webhooks is None:
            raise RuntimeError("webhook delivery is not configured in these dependencies")
        return self.webhooks.guard
