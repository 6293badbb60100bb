"""Shared fixtures: an AWS-free environment, the deployed resources in moto, the hub wired to them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import models
from chalicelib.services.deps import Deps
from chalicelib.settings import Settings
from localcloud.resources import LocalResources, create_resources
from tests.support.fakes import Fakes, FakeWeChat, make_fakes

REGION = "us-east-1"
ADMIN_TOKEN = "integration-admin-token"
PHONE_PEPPER = "integration-phone-pepper"
#: the current signing key and the one it replaced (tokens signed with either verify)
SIGNING_KEYS = {"k2": "integration-signing-key-k2", "k1": "integration-signing-key-k1"}
CURRENT_KID, PREVIOUS_KID = "k2", "k1"
SECRET_OVERRIDES = {
    "linli/app": json.dumps({"kid": CURRENT_KID, "signing_key": SIGNING_KEYS[CURRENT_KID],
                             "previous": {"kid": PREVIOUS_KID, "signing_key": SIGNING_KEYS[PREVIOUS_KID]}}),
    "linli/phone-pepper": PHONE_PEPPER,
    "linli/admin-token": ADMIN_TOKEN,
}


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS: fake credentials, one region, no profile or custom endpoint."""
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # DESIGN §3: moto and DynamoDB Streams
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fakes() -> Fakes:
    """Every port as an in-memory fake (unit tests)."""
    return make_fakes()


@pytest.fixture
def moto(aws_credentials: None) -> Iterator[LocalResources]:
    """The template's tables, queues and secrets in moto; the PynamoDB models point at them."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # secrets cached by an earlier test belong to another moto
    with mock_aws():
        resources = create_resources(None, REGION, secret_overrides=SECRET_OVERRIDES)
        models.configure(resources.environment["LINLI_HUB_TABLE"], resources.environment["LINLI_OUTBOX_TABLE"],
                         REGION)
        yield resources
    parameters.clear_caches()


@pytest.fixture
def fake_wechat() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def hub(moto: LocalResources, fake_wechat: FakeWeChat) -> Iterator[Deps]:
    """The real composition root over moto (settings from the template's function environment),
    with WeChat faked; installed for the app's handlers and routes, and removed afterwards."""
    settings = Settings.from_env({**moto.environment, "AWS_DEFAULT_REGION": REGION})
    deps = bootstrap.build(settings)
    deps.wechat = fake_wechat
    bootstrap.override(deps)
    try:
        yield deps
    finally:
        bootstrap.override(None)


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto's decorator mode does not (a cancelled transaction
    restores a snapshot of the whole table), so concurrent requests are serialised here, as in AWS."""
    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def atomic(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process_request(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", atomic)
