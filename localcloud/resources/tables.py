"""``AWS::DynamoDB::Table``: keys, GSIs/LSIs, billing mode, stream, TTL (point-in-time recovery is a
backup feature and is skipped locally)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from localcloud.resources.clients import Clients, error_code, required
from localcloud.template import Resolver

TABLE = "AWS::DynamoDB::Table"


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    arn: str
    stream_arn: str | None


def create_table(clients: Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Table:
    name = str(resolver.resolve(required(props, "TableName", logical_id)))
    billing_mode = resolver.resolve(props.get("BillingMode", "PROVISIONED"))
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": resolver.resolve(required(props, "KeySchema", logical_id)),
        "AttributeDefinitions": resolver.resolve(required(props, "AttributeDefinitions", logical_id)),
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
        if error_code(exc) != "ResourceInUseException":
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


def _enable_ttl(clients: Clients, table_name: str, attribute: str) -> None:
    current = clients.dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    clients.dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True}
    )
