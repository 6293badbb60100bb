"""The one composition root: builds the adapters lazily, once per container; tests swap in fakes."""

from __future__ import annotations

import threading

from chalicelib.adapters.lazy import LazyCardPayments, LazyWeChat, LazyWeChatPay
from chalicelib.domain.device_messages import ClockWindow
from chalicelib.services.deps import Deps, OrderDeps, WebhookDeps
from chalicelib.settings import Settings

_lock = threading.Lock()
_deps: Deps | None = None


def build(settings: Settings) -> Deps:
    from chalicelib.adapters.aws import IotThingRegistry
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.alarms import DynamoAlarmBook
    from chalicelib.adapters.dynamo.communities import DynamoCommunities
    from chalicelib.adapters.dynamo.devices import DynamoDeviceEventStore, DynamoDevices
    from chalicelib.adapters.dynamo.ledger import DynamoLedger
    from chalicelib.adapters.dynamo.recycling import DynamoRecyclingBook
    from chalicelib.adapters.dynamo.rejects import DynamoRejects
    from chalicelib.adapters.dynamo.residents import DynamoResidents
    from chalicelib.adapters.dynamo.withdrawals import DynamoWithdrawals
    from chalicelib.adapters.secrets import SecretsManagerStore
    from chalicelib.adapters.system import SystemClock, TimeOrderedIds

    models.configure(settings.hub_table, settings.outbox_table, settings.region)
    clock = SystemClock()
    wechatpay = LazyWeChatPay(settings)
    return Deps(
        webhooks=build_webhooks(settings),
        order_deps=build_orders(settings, wechatpay),
        alarm_book=DynamoAlarmBook(),
        clock=clock,
        ids=TimeOrderedIds(),
        communities=DynamoCommunities(),
        devices=DynamoDevices(),
        device_events=DynamoDeviceEventStore(settings.dedupe_ttl_s),
        rejects=DynamoRejects(settings.reject_ttl_s),
        residents=DynamoResidents(clock),
        secrets=SecretsManagerStore(settings.app_secret_name, settings.pepper_secret_name,
                                    settings.admin_secret_name, settings.secret_cache_s),
        wechat=LazyWeChat(settings),
        things=IotThingRegistry(),
        ledger=DynamoLedger(),
        recycling=DynamoRecyclingBook(settings.dedupe_ttl_s),
        withdrawals=DynamoWithdrawals(),
        wechatpay=wechatpay,
        credit_template_id=settings.credit_template_id,
        order_template_id=settings.order_template_id,
        clock_window=ClockWindow(max_age_ms=settings.max_event_age_ms,
                                 max_ahead_ms=settings.max_clock_ahead_ms),
        token_ttl_s=settings.token_ttl_s,
    )


def build_orders(settings: Settings, wechatpay: LazyWeChatPay) -> OrderDeps:
    from chalicelib.adapters.dynamo.catalog import DynamoCatalog, DynamoPartners, DynamoStaffRoster
    from chalicelib.adapters.dynamo.orders import DynamoOrders

    return OrderDeps(catalog=DynamoCatalog(), partners=DynamoPartners(), staff=DynamoStaffRoster(),
                     orders=DynamoOrders(), jsapi=wechatpay, card_payments=LazyCardPayments(settings))


def build_webhooks(settings: Settings) -> WebhookDeps:
    """Partner webhook delivery: http and loopback URLs only where the stage allows them (local)."""
    from chalicelib.adapters.dynamo.webhooks import DynamoWebhookStore
    from chalicelib.adapters.webhook_http import PinnedHttpTransport, ResolvingUrlGuard
    from chalicelib.adapters.webhook_queue import SqsDeliveryQueue
    from chalicelib.adapters.webhook_signing import StandardWebhookSigner
    from chalicelib.domain.webhook_urls import UrlPolicy
    from chalicelib.domain.webhooks import ATTEMPT_TIMEOUT_S

    policy = UrlPolicy.local() if settings.webhook_allow_loopback else UrlPolicy.production()
    return WebhookDeps(store=DynamoWebhookStore(), queue=SqsDeliveryQueue(settings.webhook_queue),
                       transport=PinnedHttpTransport(policy, timeout_s=ATTEMPT_TIMEOUT_S),
                       guard=ResolvingUrlGuard(policy), signer=StandardWebhookSigner(),
                       retry_scale=settings.webhook_retry_scale)


def deps() -> Deps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(Settings.from_env())
    return _deps


def override(replacement: Deps | None) -> None:
    """Tests (and localcloud) install their own dependencies; ``None`` forgets them."""
    global _deps
    _deps = replacement
