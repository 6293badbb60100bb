"""``AWS::SNS::Topic`` (``TopicName``; ``Ref`` resolves to the topic's ARN, as in CloudFormation) and
``AWS::SNS::Subscription`` (``TopicArn``, ``Protocol``, ``Endpoint``, ``FilterPolicy``, ``FilterPolicyScope``,
``RawMessageDelivery``): moto delivers what is published to the subscribed queues, filter policies applied —
so the notification channels fan out locally as in AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from localcloud.resources.clients import Clients, attribute_value, required
from localcloud.template import Resolver

TOPIC = "AWS::SNS::Topic"
SUBSCRIPTION = "AWS::SNS::Subscription"
#: AWS::SNS::Topic properties that are topic attributes of the same name
_TOPIC_ATTRIBUTES = ("FifoTopic", "ContentBasedDeduplication")
#: AWS::SNS::Subscription properties that are subscription attributes of the same name
_SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
                            "DeliveryPolicy")


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


def create_topic(clients: Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Topic:
    """CreateTopic is idempotent: the same name gives back the same ARN."""
    name = str(resolver.resolve(required(props, "TopicName", logical_id)))
    attributes = {key: attribute_value(resolver.resolve(props[key])) for key in _TOPIC_ATTRIBUTES if key in props}
    arn = str(clients.sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])
    resolver.register(logical_id, arn, TopicArn=arn, TopicName=name)
    return Topic(logical_id=logical_id, name=name, arn=arn)


def create_subscription(clients: Clients, resolver: Resolver, logical_id: str,
                        props: Mapping[str, Any]) -> Subscription:
    """Subscribe is idempotent for one (topic, protocol, endpoint); its attributes are set every time."""
    topic_arn = str(resolver.resolve(required(props, "TopicArn", logical_id)))
    protocol = str(resolver.resolve(required(props, "Protocol", logical_id)))
    endpoint = str(resolver.resolve(required(props, "Endpoint", logical_id)))
    attributes = {key: attribute_value(resolver.resolve(props[key])) for key in _SUBSCRIPTION_ATTRIBUTES
                  if key in props}
    arn = str(clients.sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint,
                                    Attributes=attributes, ReturnSubscriptionArn=True)["SubscriptionArn"])
    resolver.register(logical_id, arn)
    return Subscription(logical_id=logical_id, arn=arn, topic_arn=topic_arn, protocol=protocol, endpoint=endpoint,
                        attributes=MappingProxyType(attributes))
