"""Typed settings from the environment: the only module that reads ``os.environ``.

Settings are read once per container (``Settings.from_env()``) and validated at cold start,
so a misconfigured stage fails loudly on its first invocation instead of deep in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

STAGES = ("local", "dev", "prod")


class SettingsError(ValueError):
    """The environment does not describe a valid stage."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not 0 < value <= 1:
        raise SettingsError(f"{name} must be in (0, 1], got {raw!r}")
    return value


def _loopback_allowed(env: Mapping[str, str], stage: str) -> bool:
    """http:// and loopback webhook URLs: on by default on the local stage, refused on every other
    (DESIGN §5) — a deployed stage cannot be configured into posting to its own network."""
    raw = env.get("LINLI_WEBHOOK_ALLOW_LOOPBACK", "true" if stage == "local" else "false").lower()
    if raw not in ("true", "false"):
        raise SettingsError(f"LINLI_WEBHOOK_ALLOW_LOOPBACK must be true or false, got {raw!r}")
    if raw == "true" and stage != "local":
        raise SettingsError(f"LINLI_WEBHOOK_ALLOW_LOOPBACK may be true only on the local stage, not {stage!r}")
    return raw == "true"


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "cn-north-1"
    hub_table: str = "linli-hub"
    outbox_table: str = "linli-outbox"
    device_events_queue: str = "linli-device-events"
    app_secret_name: str = "linli/app"
    pepper_secret_name: str = "linli/phone-pepper"
    admin_secret_name: str = "linli/admin-token"
    wechat_secret_name: str = "linli/wechat"
    wechat_api_base: str = "https://api.weixin.qq.com/"
    wechatpay_secret_name: str = "linli/wechatpay"
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    wechatpay_notify_url: str = ""
    #: connect/read timeout of a WeChat Pay call; an expired one is an ambiguous answer, resolved by query
    wechatpay_timeout_s: int = 10
    #: the subscribe-message template of "回收到账" (recycling credited)
    credit_template_id: str = "recycling-credited"
    token_ttl_s: int = 7 * 24 * 3600
    #: how far a device clock may run ahead / behind the hub before a message is rejected
    max_clock_ahead_ms: int = 5 * 60 * 1000
    max_event_age_ms: int = 24 * 3600 * 1000
    #: how long device deduplication markers and reject records are kept
    dedupe_ttl_s: int = 7 * 24 * 3600
    reject_ttl_s: int = 90 * 24 * 3600
    #: seconds a container caches secrets fetched from Secrets Manager
    secret_cache_s: int = 300
    log_format: str = "json"
    stripe_secret_name: str = "linli/stripe"
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_s: int = 10
    #: the queue the outbox stream hands partner webhooks to, and its sender
    webhook_queue: str = "linli-webhook-deliveries"
    #: http:// and loopback webhook URLs (DESIGN §5: the local stage only, never prod)
    webhook_allow_loopback: bool = False
    #: multiplies the webhook retry schedule (local demos and tests shorten it; 1.0 in every AWS stage)
    webhook_retry_scale: float = 1.0
    #: the subscribe-message template for order status changes
    order_template_id: str = "order-status"
    #: local stage: publish device commands to this MQTT broker (``[user:password@]host:port``) instead of
    #: AWS IoT Data; empty: IoT Data
    commands_mqtt: str = ""
    #: the notification topic (SNS) the outbox stream publishes to; the template sets it on every function
    notify_topic_arn: str = ""
    #: subscribe-message templates for alarms ("安全告警"/"漏水提醒") and community notices ("社区公告")
    alarm_template_id: str = "security-alarm"
    notice_template_id: str = "community-notice"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("LINLI_STAGE", "local")
        if stage not in STAGES:
            raise SettingsError(f"LINLI_STAGE must be one of {STAGES}, got {stage!r}")
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region,
            hub_table=env.get("LINLI_HUB_TABLE", cls.hub_table),
            outbox_table=env.get("LINLI_OUTBOX_TABLE", cls.outbox_table),
            device_events_queue=env.get("LINLI_DEVICE_EVENTS_QUEUE", cls.device_events_queue),
            app_secret_name=env.get("LINLI_APP_SECRET_NAME", cls.app_secret_name),
            pepper_secret_name=env.get("LINLI_PEPPER_SECRET_NAME", cls.pepper_secret_name),
            admin_secret_name=env.get("LINLI_ADMIN_SECRET_NAME", cls.admin_secret_name),
            wechat_secret_name=env.get("LINLI_WECHAT_SECRET_NAME", cls.wechat_secret_name),
            wechat_api_base=env.get("LINLI_WECHAT_API_BASE", cls.wechat_api_base),
            wechatpay_secret_name=env.get("LINLI_WECHATPAY_SECRET_NAME", cls.wechatpay_secret_name),
            wechatpay_api_base=env.get("LINLI_WECHATPAY_API_BASE", cls.wechatpay_api_base),
            wechatpay_notify_url=env.get("LINLI_WECHATPAY_NOTIFY_URL", cls.wechatpay_notify_url),
            wechatpay_timeout_s=_int(env, "LINLI_WECHATPAY_TIMEOUT_S", cls.wechatpay_timeout_s),
            credit_template_id=env.get("LINLI_CREDIT_TEMPLATE_ID", cls.credit_template_id),
            token_ttl_s=_int(env, "LINLI_TOKEN_TTL_S", cls.token_ttl_s),
            secret_cache_s=_int(env, "LINLI_SECRET_CACHE_S", cls.secret_cache_s),
            log_format=env.get("LINLI_LOG_FORMAT", cls.log_format),
            stripe_secret_name=env.get("LINLI_STRIPE_SECRET_NAME", cls.stripe_secret_name),
            stripe_api_base=env.get("LINLI_STRIPE_API_BASE", cls.stripe_api_base),
            stripe_timeout_s=_int(env, "LINLI_STRIPE_TIMEOUT_S", cls.stripe_timeout_s),
            webhook_queue=env.get("LINLI_WEBHOOK_QUEUE", cls.webhook_queue),
            webhook_allow_loopback=_loopback_allowed(env, stage),
            webhook_retry_scale=_float(env, "LINLI_WEBHOOK_RETRY_SCALE", 1.0) if stage == "local" else 1.0,
            order_template_id=env.get("LINLI_ORDER_TEMPLATE_ID", cls.order_template_id),
            commands_mqtt=env.get("LINLI_COMMANDS_MQTT", cls.commands_mqtt) if stage == "local" else "",
            notify_topic_arn=env.get("LINLI_NOTIFY_TOPIC_ARN", cls.notify_topic_arn),
            alarm_template_id=env.get("LINLI_ALARM_TEMPLATE_ID", cls.alarm_template_id),
            notice_template_id=env.get("LINLI_NOTICE_TEMPLATE_ID", cls.notice_template_id),
        )

    @property
    def is_local(self) -> bool:
        return self.stage == "local"
