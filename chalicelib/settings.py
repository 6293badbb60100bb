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
        )

    @property
    def is_local(self) -> bool:
        return self.stage == "local"
