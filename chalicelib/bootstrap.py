"""The one composition root: builds the adapters lazily, once per container; tests swap in fakes."""

from __future__ import annotations

import threading

from chalicelib.adapters.lazy import LazyCardPayments, LazyWeChat, LazyWeChatPay
from chalicelib.domain.device_messages import ClockWindow
from chalicelib.ports import SecretStore
from chalicelib.services.deps import Deps, OrderDeps, WebhookDeps
from chalicelib.services.notify_deps import NotifyDeps
from chalicelib.settings import Settings

_lock = threading.Lock()
_deps: Deps | None = None


def build(settings: Settings) -> Deps:
    from chalicelib.adapters.aws import IotThingRegistry
    from chalicelib.adapters.commands import commands_for
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.alarms import DynamoAlarmBook
    from chalicelib.adapters.dynamo.communities import DynamoCommunities
    from chalicelib.adapters.dynamo.devices import DynamoDeviceEventStore, DynamoDevices
    from chalicelib.adapters.dynamo.doors import DynamoDoorBook
    from chalicelib.adapters.dynamo.irrigation import DynamoIrrigationBook
    from chalicelib.adapters.dynamo.ledger import DynamoLedger
    from chalicelib.adapters.dynamo.notices import DynamoNoticeBoard
    from chalicelib.adapters.dynamo.recycling import DynamoRecyclingBook
    from chalicelib.adapters.dynamo.rejects import DynamoRejects
    from chalicelib.adapters.dynamo.residents import DynamoResidents
    from chalicelib.adapters.dynamo.security import DynamoDeviceHealthFlags, DynamoHomeSecurityBook
    from chalicelib.adapters.dynamo.tasks import DynamoCleaningTaskBook
    from chalicelib.adapters.dynamo.usage import DynamoHouseholdBook, DynamoUsageBook
    from chalicelib.adapters.dynamo.withdrawals import DynamoWithdrawals
    from chalicelib.adapters.secrets import SecretsManagerStore
    from chalicelib.adapters.system import SystemClock, TimeOrderedIds
    from chalicelib.adapters.timer_queue import SqsTimerQueue

    models.configure(settings.hub_table, settings.outbox_table, settings.region)
    clock = SystemClock()
    wechatpay = LazyWeChatPay(settings)
    deps = Deps(
        webhooks=build_webhooks(settings),
        order_deps=build_orders(settings, wechatpay),
        alarm_book=DynamoAlarmBook(),
        home_security_book=DynamoHomeSecurityBook(), timer_queue=SqsTimerQueue(),
        device_health_flags=DynamoDeviceHealthFlags(),
        task_book=DynamoCleaningTaskBook(), door_book=DynamoDoorBook(),
        usage_book=DynamoUsageBook(), household_book=DynamoHouseholdBook(), irrigation_book=DynamoIrrigationBook(),
        command_sender=commands_for(settings.commands_mqtt), notice_board=DynamoNoticeBoard(),
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
    deps.notify_deps = build_notify(settings, deps.secrets)
    return deps


def build_notify(settings: Settings, secrets: SecretStore) -> NotifyDeps | None:
    """The notification fan-out; None where no topic is configured (the stream then fails every event that
    has an audience, loudly — the template sets LINLI_NOTIFY_TOPIC_ARN on every function)."""
    if not settings.notify_topic_arn:
        return None
    from chalicelib.adapters.dynamo.notify_book import DynamoNotifyBook
    from chalicelib.adapters.dynamo.notify_contacts import DynamoContacts
    from chalicelib.adapters.notify_topic import SnsNotifier, SnsSms, SqsMessageHold

    return NotifyDeps(topic=SnsNotifier(settings.notify_topic_arn), sms=SnsSms(), hold=SqsMessageHold(),
                      contacts=DynamoContacts(secrets), book=DynamoNotifyBook(),
                      alarm_template_id=settings.alarm_template_id, notice_template_id=settings.notice_template_id)


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
