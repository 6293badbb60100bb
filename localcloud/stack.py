"""Start and stop every part of the hub on one machine, in order, in one process."""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from localcloud.config import LocalConfig
from localcloud.lambda_runtime import FunctionInvoker
from localcloud.resources import LocalResources, create_resources
from localcloud.scheduler import Scheduler
from localcloud.sqs_pump import SqsPump
from localcloud.stream_pump import StreamPump

log = logging.getLogger("localcloud")
ROOT = Path(__file__).resolve().parent.parent


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_http(url: str, timeout_s: float = 15) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Stack:
    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self._stoppers: list[tuple[str, Any]] = []
        self._stopped = threading.Event()
        self.resources: LocalResources | None = None
        self.app: Any = None
        self.gateway: Any = None
        self.wechat: Any = None

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        started = time.monotonic()
        cfg = self.config
        for name, port in (("api", cfg.api_port), ("mqtt", cfg.mqtt_port), ("sandbox", cfg.sandbox_port)):
            if port and not _port_free(cfg.host, port):
                raise SystemExit(f"port {port} for the {name} is in use (set LINLI_{name.upper()}_PORT)")
        endpoint = self._start_aws()
        self._start_sandbox()
        self._configure_environment(endpoint)
        self.resources = create_resources(endpoint, cfg.region, ROOT / "infra" / "template.yaml",
                                          secret_overrides=self._secret_overrides())
        os.environ.update(self.resources.environment)
        os.environ.update({  # after the template's environment: these point at this machine
            "LINLI_WECHATPAY_API_BASE": self.wechat_base.rstrip("/"),
            "LINLI_WECHATPAY_NOTIFY_URL": f"http://{cfg.host}:{cfg.api_port}/callbacks/wechatpay",
            "LINLI_STRIPE_API_BASE": self.wechat_base.rstrip("/"),
        })
        self.app = importlib.import_module("app").app
        self._start_gateway()  # first: the functions' settings name its port (LINLI_COMMANDS_MQTT)
        self._start_functions()
        self._start_api()
        log.info("hub is up in %.1f s: API http://%s:%d  MQTT %s:%d  AWS %s  sandbox %s",
                 time.monotonic() - started, cfg.host, cfg.api_port, cfg.host, self.gateway.port, endpoint,
                 self.wechat_base)

    def _start_aws(self) -> str:
        cfg = self.config
        if cfg.aws_endpoint_url:
            log.info("using the AWS endpoint in AWS_ENDPOINT_URL: %s", cfg.aws_endpoint_url)
            return cfg.aws_endpoint_url
        if not _port_free(cfg.host, cfg.aws_port):
            raise SystemExit(f"port {cfg.aws_port} for the embedded AWS is in use (set LINLI_AWS_PORT)")
        from moto.server import ThreadedMotoServer

        from localcloud import moto_patches

        moto_patches.install()  # transactions cost O(items touched), not O(table): see the module
        server = ThreadedMotoServer(ip_address=cfg.host, port=cfg.aws_port, verbose=False)
        server.start()
        self._stoppers.append(("embedded AWS", server.stop))
        endpoint = f"http://{cfg.host}:{cfg.aws_port}"
        _wait_http(endpoint + "/moto-api/")
        from chalicelib.api import meta

        meta.HEALTH_CHECKS["aws"] = lambda: _probe(endpoint + "/moto-api/")
        return endpoint

    def _start_sandbox(self) -> None:
        from localcloud.sandbox.server import SandboxServer
        from localcloud.sandbox.stripe import StripeSandbox
        from localcloud.sandbox.wechat import WeChatSandbox
        from localcloud.sandbox.wechatpay import WeChatPaySandbox
        from localcloud.sandbox.wechatpay_keys import generate_wechatpay_credentials

        self.wechat = WeChatSandbox()
        # fresh merchant / platform keys each start: the sandbox gets its half, the hub the secret
        wechatpay_credentials = generate_wechatpay_credentials(appid=self.wechat.appid)
        self.wechatpay_secret = wechatpay_credentials.secret
        self.wechatpay = WeChatPaySandbox(**wechatpay_credentials.sandbox,
                                          retry_scale=self.config.callback_retry_scale)
        # Stripe: a fresh test key and webhook secret each start, events posted to the hub's callback
        self.stripe_secret = {"api_key": "sk_test_" + secrets.token_hex(12),
                              "webhook_secret": "whsec_" + secrets.token_hex(16)}
        self.stripe = StripeSandbox(self.stripe_secret["api_key"], self.stripe_secret["webhook_secret"],
                                    retry_scale=self.config.callback_retry_scale,
                                    webhook_url=f"http://{self.config.host}:{self.config.api_port}/callbacks/stripe")
        server = SandboxServer(port=self.config.sandbox_port, host=self.config.host,
                               modules=[self.wechat, self.wechatpay, self.stripe])
        server.start()
        self._stoppers.append(("sandbox", server.stop))
        self.wechat_base = server.base_url
        from chalicelib.api import meta

        meta.HEALTH_CHECKS["sandbox"] = lambda: _probe(server.base_url.rstrip("/") + "/_sandbox/healthz")

    def _configure_environment(self, endpoint: str) -> None:
        os.environ.update({
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "LINLI_STAGE": "local",
            "LINLI_LOG_FORMAT": os.environ.get("LINLI_LOG_FORMAT", "pretty"),
            "LINLI_WECHAT_API_BASE": self.wechat_base.rstrip("/") + "/",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "linli",
        })
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")

    def _secret_overrides(self) -> dict[str, str]:
        return {
            "linli/admin-token": self.config.admin_token,
            "linli/wechat": json.dumps({"appid": self.wechat.appid, "secret": self.wechat.secret}),
            "linli/wechatpay": json.dumps(self.wechatpay_secret),
            "linli/stripe": json.dumps(self.stripe_secret),
        }

    def _clients(self) -> tuple[Any, Any]:
        import boto3

        return boto3.client("sqs"), boto3.client("dynamodbstreams")

    def _start_functions(self) -> None:
        from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

        from chalicelib.api import meta

        assert self.resources is not None
        sqs, streams = self._clients()
        scheduler = Scheduler(self.config.region, self.config.schedule_speedup)
        parts: list[Any] = []
        for source in self.app.event_sources:
            invoke = FunctionInvoker(source.name, self.app.handler_map[source.name])
            if isinstance(source, SQSEventConfig):
                queue = self.resources.queue_named(str(source.queue))
                parts.append(SqsPump(sqs, queue.url, queue.arn, self.config.region, invoke,
                                     source.batch_size, self.config.sqs_retry_after_s))
            elif isinstance(source, DynamoDBEventConfig):
                table_name = source.stream_arn.split(":table/")[1].split("/")[0]
                table = self.resources.table_named(table_name)
                assert table.stream_arn, f"{table_name} has no stream"
                dlq = self._on_failure_queue()
                parts.append(StreamPump(streams, sqs, table.stream_arn, self.config.region, invoke,
                                        source.batch_size, on_failure_queue_url=dlq))
            elif isinstance(source, ScheduledEventConfig):
                scheduler.add(str(source.schedule_expression), invoke)
            else:
                raise SystemExit(f"localcloud cannot run event source {type(source).__name__} ({source.name})")
        parts.append(scheduler)
        for part in parts:
            part.start()
            self._stoppers.append((part.name, part.stop))
        meta.HEALTH_CHECKS["functions"] = lambda: all(part.alive() for part in parts)

    def _on_failure_queue(self) -> str | None:
        assert self.resources is not None
        try:
            return self.resources.queue_named("linli-outbox-stream-dlq").url
        except KeyError:
            return None

    def _start_gateway(self) -> None:
        import boto3

        from chalicelib.api import meta
        from localcloud.broker import IotGateway
        from localcloud.device_policy import HUB_USERNAME
        from localcloud.rule_actions import sqs_target

        assert self.resources is not None
        sqs = boto3.client("sqs")
        rules = [(rule.rule_name, rule.sql, sqs_target(sqs, rule.queue_url, rule.error_queue_url))
                 for rule in self.resources.topic_rules.values()]
        hub_password = secrets.token_hex(16)  # the hub's MQTT user publishes device commands (IoT Data locally)
        self.gateway = IotGateway(rules, host=self.config.host, port=self.config.mqtt_port, hub_password=hub_password)
        self.gateway.start()
        os.environ["LINLI_COMMANDS_MQTT"] = f"{HUB_USERNAME}:{hub_password}@{self.config.host}:{self.gateway.port}"
        self._stoppers.append(("MQTT gateway", self.gateway.stop))
        meta.HEALTH_CHECKS["mqtt"] = lambda: bool(self.gateway.running)

    def _start_api(self) -> None:
        from localcloud.api_server import ApiServer

        server = ApiServer(self.app, self.config.host, self.config.api_port)
        server.start()
        self._stoppers.append(("API", server.stop))
        _wait_http(f"http://{self.config.host}:{server.port}/healthz")

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for name, stop in reversed(self._stoppers):
            try:
                stop()
                log.info("stopped %s", name)
            except Exception:
                log.exception("stopping %s failed", name)


def _probe(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except Exception:
        return False
