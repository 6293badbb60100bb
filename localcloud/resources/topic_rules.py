"""``AWS::IoT::TopicRule``: not created (moto cannot run them) but read, with their queues resolved, for the
local MQTT gateway to evaluate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.resources.clients import required
from localcloud.template import Resolver, TemplateError, resources_of_type

TOPIC_RULE = "AWS::IoT::TopicRule"


@dataclass(frozen=True)
class TopicRule:
    logical_id: str
    rule_name: str
    sql: str
    sql_version: str
    #: URL of the queue of the rule's Sqs action, and of its Sqs error action
    queue_url: str
    error_queue_url: str | None


def _sqs_queue_url(resolver: Resolver, action: Any) -> str | None:
    if not isinstance(action, dict) or "Sqs" not in action:
        return None
    return str(resolver.resolve(action["Sqs"]["QueueUrl"]))


def parse_topic_rules(template: Mapping[str, Any], resolver: Resolver) -> dict[str, TopicRule]:
    """The template's topic rules by logical id (their queues must be registered with ``resolver``)."""
    rules: dict[str, TopicRule] = {}
    for logical_id, resource in resources_of_type(template, TOPIC_RULE).items():
        props = resource.get("Properties", {})
        payload = required(props, "TopicRulePayload", logical_id)
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
