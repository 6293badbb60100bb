"""Create the hub's AWS resources in a local endpoint (a moto server), from ``infra/template.yaml``.

The template is the single source of truth: tables, queues, topics, subscriptions and secrets are read
from it, never listed here. One module per resource type says what is created, with boto3:

* :mod:`~localcloud.resources.tables` — ``AWS::DynamoDB::Table``;
* :mod:`~localcloud.resources.queues` — ``AWS::SQS::Queue``;
* :mod:`~localcloud.resources.topics` — ``AWS::SNS::Topic`` and ``AWS::SNS::Subscription``;
* :mod:`~localcloud.resources.secrets_manager` — ``AWS::SecretsManager::Secret``;
* :mod:`~localcloud.resources.topic_rules` — ``AWS::IoT::TopicRule``: not created (moto cannot run them);
  returned parsed, with their queues resolved, for the local MQTT gateway to evaluate.

Everything else (IAM, IoT policies, alarms, log groups, the functions themselves, ``AWS::SQS::QueuePolicy``
— moto's SNS sends to its queues without one) has no local counterpart.

Idempotent: resources that already exist are left alone, so running it twice against one endpoint is
fine. The exception is ``secret_overrides``: an override is an explicit request, so an existing secret
whose value differs is given the override's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.resources.clients import Clients
from localcloud.resources.queues import QUEUE, Queue, create_queue
from localcloud.resources.secrets_manager import SECRET, create_secret
from localcloud.resources.tables import TABLE, Table, create_table
from localcloud.resources.topic_rules import TopicRule, parse_topic_rules
from localcloud.resources.topics import SUBSCRIPTION, TOPIC, Subscription, Topic, create_subscription, create_topic
from localcloud.template import Resolver, TemplateError, dependency_order, load_template, resources_of_type

__all__ = ["LocalResources", "Queue", "Subscription", "Table", "Topic", "TopicRule", "create_resources"]

_DEFAULT_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class LocalResources:
    region: str
    account_id: str
    tables: Mapping[str, Table]
    queues: Mapping[str, Queue]
    topic_rules: Mapping[str, TopicRule]
    #: secret name → secret string (kept out of repr, so logging this object leaks nothing)
    secrets: Mapping[str, str] = field(repr=False)
    #: the functions' environment from the template's Globals, resolved (LINLI_HUB_TABLE, ...)
    environment: Mapping[str, str]
    topics: Mapping[str, Topic]
    subscriptions: Mapping[str, Subscription]

    def queue_named(self, name: str) -> Queue:
        for queue in self.queues.values():
            if queue.name == name:
                return queue
        raise KeyError(name)

    def table_named(self, name: str) -> Table:
        for table in self.tables.values():
            if table.name == name:
                return table
        raise KeyError(name)


def create_resources(
    endpoint_url: str | None,
    region: str,
    template_path: Path | None = None,
    secret_overrides: Mapping[str, str] | None = None,
) -> LocalResources:
    """Create the template's tables, queues, topics, subscriptions and secrets at ``endpoint_url``
    (None: boto3's default).

    ``secret_overrides`` maps a secret's name (e.g. ``linli/wechat``) to the string to store instead.
    """
    template = load_template(template_path)
    session = _session(region)
    clients = Clients(session, endpoint_url)
    resolver = Resolver(
        region=region,
        account_id=_account_id(clients),
        partition=_partition(session, region),
    )
    for name, parameter in template.get("Parameters", {}).items():
        resolver.register(name, parameter.get("Default", ""))  # the local stack deploys with defaults
    overrides = dict(secret_overrides or {})
    creatable = {
        **resources_of_type(template, TABLE),
        **resources_of_type(template, QUEUE),
        **resources_of_type(template, SECRET),
        **resources_of_type(template, TOPIC),
        **resources_of_type(template, SUBSCRIPTION),
    }
    tables: dict[str, Table] = {}
    queues: dict[str, Queue] = {}
    secret_values: dict[str, str] = {}
    topics: dict[str, Topic] = {}
    subscriptions: dict[str, Subscription] = {}
    for logical_id in dependency_order(template, creatable):
        resource = creatable[logical_id]
        props: Mapping[str, Any] = resource.get("Properties", {})
        if resource["Type"] == TABLE:
            tables[logical_id] = create_table(clients, resolver, logical_id, props)
        elif resource["Type"] == QUEUE:
            queues[logical_id] = create_queue(clients, resolver, logical_id, props)
        elif resource["Type"] == TOPIC:
            topics[logical_id] = create_topic(clients, resolver, logical_id, props)
        elif resource["Type"] == SUBSCRIPTION:
            subscriptions[logical_id] = create_subscription(clients, resolver, logical_id, props)
        else:
            name, value = create_secret(clients, resolver, logical_id, props, overrides)
            secret_values[name] = value
    unknown = set(overrides) - set(secret_values)
    if unknown:
        raise TemplateError(f"secret_overrides name secrets the template does not define: {sorted(unknown)}")
    return LocalResources(
        region=region,
        account_id=resolver.account_id,
        tables=MappingProxyType(tables),
        queues=MappingProxyType(queues),
        topic_rules=MappingProxyType(parse_topic_rules(template, resolver)),
        secrets=MappingProxyType(secret_values),
        environment=MappingProxyType(_environment(template, resolver)),
        topics=MappingProxyType(topics),
        subscriptions=MappingProxyType(subscriptions),
    )


def _session(region: str) -> boto3.session.Session:
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        # A local endpoint accepts any credentials; do not make the caller invent some.
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id="localcloud",
            aws_secret_access_key="localcloud",  # noqa: S106 - local endpoints take any credentials
        )
    return session


def _partition(session: boto3.session.Session, region: str) -> str:
    try:
        return str(session.get_partition_for_region(region))
    except BotoCoreError:  # a made-up local region name
        return "aws"


def _account_id(clients: Clients) -> str:
    try:
        return str(clients.sts.get_caller_identity()["Account"])
    except (ClientError, BotoCoreError):
        return _DEFAULT_ACCOUNT_ID


def _environment(template: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    globals_ = template.get("Globals", {}).get("Function", {})
    variables: Mapping[str, Any] = globals_.get("Environment", {}).get("Variables", {})
    return {name: str(resolver.resolve(value)) for name, value in variables.items()}
