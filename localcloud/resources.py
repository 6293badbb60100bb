"""Create the hub's AWS resources in a local endpoint (a moto server), from ``infra/template.yaml``.

The template is the single source of truth: tables, queues and secrets are read from it, never
listed here. What is created, with boto3:

* ``AWS::DynamoDB::Table``: keys, GSIs/LSIs, billing mode, stream, TTL (point-in-time recovery is a
  backup feature and is skipped locally);
* ``AWS::SQS::Queue``: in dependency order, so a ``RedrivePolicy`` resolves its DLQ's ARN;
* ``AWS::SNS::Topic`` (``TopicName``; ``Ref`` resolves to the topic's ARN, as in CloudFormation) and
  ``AWS::SNS::Subscription`` (``TopicArn``, ``Protocol``, ``Endpoint``, ``FilterPolicy``,
  ``FilterPolicyScope``, ``RawMessageDelivery``): moto delivers what is published to the subscribed
  queues, filter policies applied — so the notification channels fan out locally as in AWS;
* ``AWS::SecretsManager::Secret``: ``SecretString`` as written, ``GenerateSecretString`` generated here
  with :func:`secrets.token_urlsafe` (honouring ``PasswordLength``, ``ExcludePunctuation``,
  ``SecretStringTemplate`` + ``GenerateStringKey``), or the caller's override.

IoT topic rules are not created (moto cannot run them); they are returned parsed, with their queues
resolved, for the local MQTT gateway to evaluate. Everything else (IAM, IoT policies, alarms, log
groups, the functions themselves, ``AWS::SQS::QueuePolicy`` — moto's SNS sends to its queues without
one) has no local counterpart.

Idempotent: resources that already exist are left alone, so running it twice against one endpoint is
fine. The exception is ``secret_overrides``: an override is an explicit request, so an existing secret
whose value differs is given the override's value.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.template import (
    Resolver,
    TemplateError,
    dependency_order,
    load_template,
    references,
    resources_of_type,
)

__all__ = ["LocalResources", "Queue", "Subscription", "Table", "Topic", "TopicRule", "create_resources"]

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a password
TOPIC_RULE = "AWS::IoT::TopicRule"
TOPIC = "AWS::SNS::Topic"
SUBSCRIPTION = "AWS::SNS::Subscription"
#: AWS::SNS::Subscription properties that are subscription attributes of the same name
_SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
                            "DeliveryPolicy")

#: CloudFormation AWS::SQS::Queue properties that are SQS queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
_JSON_QUEUE_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")
_PUNCTUATION = frozenset(string.punctuation)
_DEFAULT_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    arn: str
    stream_arn: str | None


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    #: logical id of the queue that RedrivePolicy sends to, and after how many receives
    redrive_target: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class TopicRule:
    logical_id: str
    rule_name: str
    sql: str
    sql_version: str
    #: URL of the queue of the rule's Sqs action, and of its Sqs error action
    queue_url: str
    error_queue_url: str | None


@dataclass(frozen=True)
class Topic:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class Subscription:
    logical_id: str
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    #: the subscription attributes set (FilterPolicy as a JSON string, RawMessageDelivery "true"/"false")
    attributes: Mapping[str, str]


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
    topics: Mapping[str, Topic] = field(default_factory=dict)
    subscriptions: Mapping[str, Subscription] = field(default_factory=dict)

    def topic_named(self, name: str) -> Topic:
        for topic in self.topics.values():
            if topic.name == name:
                return topic
        raise KeyError(name)

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
    clients = _Clients(session, endpoint_url)
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
            tables[logical_id] = _create_table(clients, resolver, logical_id, props)
        elif resource["Type"] == QUEUE:
            queues[logical_id] = _create_queue(clients, resolver, logical_id, props)
        elif resource["Type"] == TOPIC:
            topics[logical_id] = _create_topic(clients, resolver, logical_id, props)
        elif resource["Type"] == SUBSCRIPTION:
            subscriptions[logical_id] = _create_subscription(clients, resolver, logical_id, props)
        else:
            name, value = _create_secret(clients, resolver, logical_id, props, overrides)
            secret_values[name] = value
    unknown = set(overrides) - set(secret_values)
    if unknown:
        raise TemplateError(f"secret_overrides name secrets the template does not define: {sorted(unknown)}")
    return LocalResources(
        region=region,
        account_id=resolver.account_id,
        tables=MappingProxyType(tables),
        queues=MappingProxyType(queues),
        topic_rules=MappingProxyType(_topic_rules(template, resolver)),
        secrets=MappingProxyType(secret_values),
        environment=MappingProxyType(_environment(template, resolver)),
        topics=MappingProxyType(topics),
        subscriptions=MappingProxyType(subscriptions),
    )


# ------------------------------------------------------------------------------------------ plumbing


class _Clients:
    def __init__(self, session: boto3.session.Session, endpoint_url: str | None) -> None:
        self.dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint_url)
        self.sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
        self.secretsmanager: Any = session.client("secretsmanager", endpoint_url=endpoint_url)
        self.sns: Any = session.client("sns", endpoint_url=endpoint_url)
        self.sts: Any = session.client("sts", endpoint_url=endpoint_url)


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


def _account_id(clients: _Clients) -> str:
    try:
        return str(clients.sts.get_caller_identity()["Account"])
    except (ClientError, BotoCoreError):
        return _DEFAULT_ACCOUNT_ID


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _required(props: Mapping[str, Any], key: str, logical_id: str) -> Any:
    if key not in props:
        raise TemplateError(f"{logical_id}: localcloud needs an explicit {key}")
    return props[key]


# ---------------------------------------------------------------------------------------- DynamoDB


def _create_table(clients: _Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Table:
    name = str(resolver.resolve(_required(props, "TableName", logical_id)))
    billing_mode = resolver.resolve(props.get("BillingMode", "PROVISIONED"))
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": resolver.resolve(_required(props, "KeySchema", logical_id)),
        "AttributeDefinitions": resolver.resolve(_required(props, "AttributeDefinitions", logical_id)),
        "BillingMode": billing_mode,
    }
    if billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = resolver.resolve(props["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in props:
            request[key] = resolver.resolve(props[key])
    stream = props.get("StreamSpecification")
    if stream is not None:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": resolver.resolve(stream["StreamViewType"]),
        }
    try:
        clients.dynamodb.create_table(**request)
    except ClientError as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
    clients.dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl is not None and resolver.resolve(ttl.get("Enabled", False)):
        _enable_ttl(clients, name, str(resolver.resolve(ttl["AttributeName"])))
    description = clients.dynamodb.describe_table(TableName=name)["Table"]
    stream_arn = description.get("LatestStreamArn")
    table = Table(logical_id=logical_id, name=name, arn=description["TableArn"], stream_arn=stream_arn)
    resolver.register(logical_id, name, Arn=table.arn, StreamArn=stream_arn)
    return table


def _enable_ttl(clients: _Clients, table_name: str, attribute: str) -> None:
    current = clients.dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    clients.dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True}
    )


# --------------------------------------------------------------------------------------------- SQS


def _queue_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _create_queue(clients: _Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Queue:
    name = str(resolver.resolve(_required(props, "QueueName", logical_id)))
    attributes = {key: _queue_attribute(resolver.resolve(props[key])) for key in _QUEUE_ATTRIBUTES
                  if key in props}
    for key in _JSON_QUEUE_ATTRIBUTES:
        if key in props:
            attributes[key] = _queue_attribute(resolver.resolve(props[key]))
    try:
        url = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive_target: str | None = None
    max_receive_count: int | None = None
    redrive = props.get("RedrivePolicy")
    if isinstance(redrive, dict):
        targets = references(redrive.get("deadLetterTargetArn"))
        redrive_target = next(iter(targets)) if len(targets) == 1 else None
        max_receive_count = int(resolver.resolve(redrive["maxReceiveCount"]))
    resolver.register(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
    return Queue(logical_id=logical_id, name=name, url=url, arn=arn, redrive_target=redrive_target,
                 max_receive_count=max_receive_count)


# --------------------------------------------------------------------------------------------- SNS


def _create_topic(clients: _Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Topic:
    """CreateTopic is idempotent: the same name gives back the same ARN."""
    name = str(resolver.resolve(_required(props, "TopicName", logical_id)))
    attributes = {key: _queue_attribute(resolver.resolve(props[key]))
                  for key in ("FifoTopic", "ContentBasedDeduplication") if key in props}
    arn = str(clients.sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])
    resolver.register(logical_id, arn, TopicArn=arn, TopicName=name)
    return Topic(logical_id=logical_id, name=name, arn=arn)


def _create_subscription(clients: _Clients, resolver: Resolver, logical_id: str,
                         props: Mapping[str, Any]) -> Subscription:
    """Subscribe is idempotent for one (topic, protocol, endpoint); its attributes are set every time."""
    topic_arn = str(resolver.resolve(_required(props, "TopicArn", logical_id)))
    protocol = str(resolver.resolve(_required(props, "Protocol", logical_id)))
    endpoint = str(resolver.resolve(_required(props, "Endpoint", logical_id)))
    attributes = {key: _queue_attribute(resolver.resolve(props[key])) for key in _SUBSCRIPTION_ATTRIBUTES
                  if key in props}
    arn = str(clients.sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint,
                                    Attributes=attributes, ReturnSubscriptionArn=True)["SubscriptionArn"])
    resolver.register(logical_id, arn)
    return Subscription(logical_id=logical_id, arn=arn, topic_arn=topic_arn, protocol=protocol, endpoint=endpoint,
                        attributes=MappingProxyType(attributes))


# ------------------------------------------------------------------------------------------ Secrets


def _generate(spec: Mapping[str, Any]) -> str:
    """A value for ``GenerateSecretString``, made locally (length and punctuation honoured)."""
    length = int(spec.get("PasswordLength", 32))
    exclude = set(str(spec.get("ExcludeCharacters", "")))
    if spec.get("ExcludePunctuation", False):
        exclude |= _PUNCTUATION
    for flag, chars in (("ExcludeUppercase", string.ascii_uppercase),
                        ("ExcludeLowercase", string.ascii_lowercase), ("ExcludeNumbers", string.digits)):
        if spec.get(flag, False):
            exclude |= set(chars)
    if not set(string.ascii_letters + string.digits + "-_") - exclude:
        raise TemplateError(f"GenerateSecretString excludes every character: {dict(spec)!r}")
    value = ""
    while len(value) < length:
        value += "".join(c for c in secrets.token_urlsafe(length) if c not in exclude)
    password = value[:length]
    template = spec.get("SecretStringTemplate")
    if template is None:
        return password
    document = json.loads(template)
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document, separators=(",", ":"))


def _create_secret(
    clients: _Clients,
    resolver: Resolver,
    logical_id: str,
    props: Mapping[str, Any],
    overrides: Mapping[str, str],
) -> tuple[str, str]:
    name = str(resolver.resolve(_required(props, "Name", logical_id)))
    try:
        arn = clients.secretsmanager.describe_secret(SecretId=name)["ARN"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        arn = None
    if arn is not None:
        value = str(clients.secretsmanager.get_secret_value(SecretId=name)["SecretString"])
        if name in overrides and overrides[name] != value:
            value = overrides[name]
            clients.secretsmanager.put_secret_value(SecretId=name, SecretString=value)
    else:
        if name in overrides:
            value = overrides[name]
        elif "SecretString" in props:
            value = str(resolver.resolve(props["SecretString"]))
        elif "GenerateSecretString" in props:
            value = _generate(resolver.resolve(props["GenerateSecretString"]))
        else:
            raise TemplateError(f"{logical_id}: needs SecretString or GenerateSecretString")
        request: dict[str, Any] = {"Name": name, "SecretString": value}
        if "Description" in props:
            request["Description"] = str(resolver.resolve(props["Description"]))
        arn = clients.secretsmanager.create_secret(**request)["ARN"]
    resolver.register(logical_id, arn, Id=arn)
    return name, value


# -------------------------------------------------------------------------- topic rules, environment


def _sqs_queue_url(resolver: Resolver, action: Any) -> str | None:
    if not isinstance(action, dict) or "Sqs" not in action:
        return None
    return str(resolver.resolve(action["Sqs"]["QueueUrl"]))


def _topic_rules(template: Mapping[str, Any], resolver: Resolver) -> dict[str, TopicRule]:
    rules: dict[str, TopicRule] = {}
    for logical_id, resource in resources_of_type(template, TOPIC_RULE).items():
        props = resource.get("Properties", {})
        payload = _required(props, "TopicRulePayload", logical_id)
        urls = [url for url in (_sqs_queue_url(resolver, a) for a in payload.get("Actions", [])) if url]
        if len(urls) != 1:
            raise TemplateError(f"{logical_id}: localcloud expects exactly one Sqs action, found {len(urls)}")
        rules[logical_id] = TopicRule(
            logical_id=logical_id,
            rule_name=str(resolver.resolve(props.get("RuleName", logical_id))),
            sql=str(resolver.resolve(payload["Sql"])),
            sql_version=str(resolver.resolve(payload.get("AwsIotSqlVersion", "2015-10-08"))),
            queue_url=urls[0],
            error_queue_url=_sqs_queue_url(resolver, payload.get("ErrorAction")),
        )
    return rules


def _environment(template: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    globals_ = template.get("Globals", {}).get("Function", {})
    variables: Mapping[str, Any] = globals_.get("Environment", {}).get("Variables", {})
    return {name: str(resolver.resolve(value)) for name, value in variables.items()}
