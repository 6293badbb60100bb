"""What every resource type's creator shares: the boto3 clients of one endpoint, and how a resource's
properties are read (a required one, an attribute value as the AWS APIs take it, an error's code)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localcloud.template import TemplateError


class Clients:
    def __init__(self, session: boto3.session.Session, endpoint_url: str | None) -> None:
        self.dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint_url)
        self.sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
        self.secretsmanager: Any = session.client("secretsmanager", endpoint_url=endpoint_url)
        self.sns: Any = session.client("sns", endpoint_url=endpoint_url)
        self.sts: Any = session.client("sts", endpoint_url=endpoint_url)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def required(props: Mapping[str, Any], key: str, logical_id: str) -> Any:
    if key not in props:
        raise TemplateError(f"{logical_id}: localcloud needs an explicit {key}")
    return props[key]


def attribute_value(value: Any) -> str:
    """A resolved property as an SQS / SNS attribute string: booleans ``"true"``/``"false"``, JSON compact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
