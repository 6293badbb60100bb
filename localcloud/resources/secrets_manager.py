"""``AWS::SecretsManager::Secret``: ``SecretString`` as written, ``GenerateSecretString`` generated here
with :func:`secrets.token_urlsafe` (honouring ``PasswordLength``, ``ExcludePunctuation``,
``SecretStringTemplate`` + ``GenerateStringKey``), or the caller's override. An existing secret is left
alone, except that an override whose value differs is stored (an override is an explicit request)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from localcloud.resources.clients import Clients, error_code, required
from localcloud.template import Resolver, TemplateError

SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a password
_PUNCTUATION = frozenset(string.punctuation)


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


def create_secret(
    clients: Clients,
    resolver: Resolver,
    logical_id: str,
    props: Mapping[str, Any],
    overrides: Mapping[str, str],
) -> tuple[str, str]:
    """The secret's name and its value (as stored)."""
    name = str(resolver.resolve(required(props, "Name", logical_id)))
    try:
        arn = clients.secretsmanager.describe_secret(SecretId=name)["ARN"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
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
