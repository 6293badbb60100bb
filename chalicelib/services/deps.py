"""What a use case may touch: the ports, built once per container by bootstrap (or as fakes by tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.device_messages import ClockWindow
from chalicelib.ports import (
    Clock,
    Communities,
    DeviceEventStore,
    Devices,
    IdGenerator,
    Ledger,
    RecyclingBook,
    Rejects,
    Residents,
    SecretStore,
    ThingRegistry,
    WeChatMiniProgram,
    WeChatPay,
    Withdrawals,
)
from chalicelib.services.terms_cache import TermsCache


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
    terms_cache: TermsCache = field(default_factory=TermsCache)
