"""The local stack's knobs (DESIGN §5 "Local stack"), each overridable by environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalConfig:
    host: str = "127.0.0.1"
    api_port: int = 8000
    mqtt_port: int = 1883
    aws_port: int = 5000
    sandbox_port: int = 8010
    admin_token: str = "dev-admin"  # noqa: S105 - the documented local-only default
    region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    schedule_speedup: float = 1.0
    sqs_retry_after_s: int = 2
    #: WeChat Pay's callback retry schedule (15 s … 6 h) times this; tests compress it
    callback_retry_scale: float = 1.0

    @classmethod
    def from_env(cls) -> LocalConfig:
        env = os.environ
        return cls(
            api_port=int(env.get("LINLI_API_PORT", cls.api_port)),
            mqtt_port=int(env.get("LINLI_MQTT_PORT", cls.mqtt_port)),
            aws_port=int(env.get("LINLI_AWS_PORT", cls.aws_port)),
            sandbox_port=int(env.get("LINLI_SANDBOX_PORT", cls.sandbox_port)),
            admin_token=env.get("LINLI_ADMIN_TOKEN", cls.admin_token),
            region=env.get("LINLI_LOCAL_REGION", cls.region),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            schedule_speedup=float(env.get("LINLI_SCHEDULE_SPEEDUP", cls.schedule_speedup)),
            sqs_retry_after_s=int(env.get("LINLI_SQS_RETRY_AFTER_S", cls.sqs_retry_after_s)),
            callback_retry_scale=float(env.get("LINLI_CALLBACK_RETRY_SCALE", cls.callback_retry_scale)),
        )
