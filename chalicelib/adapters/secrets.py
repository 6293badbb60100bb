"""Secrets from AWS Secrets Manager through powertools parameters (cached per container)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.ports import AppSecrets


class SecretsManagerStore:
    """Reads ``linli/app`` (signing keys), ``linli/phone-pepper`` and ``linli/admin-token``.

    ``linli/app`` is JSON ``{"kid": "k1", "signing_key": "...", "previous": {"kid", "signing_key"}?}`` so
    the signing key can rotate without logging every resident out.
    """

    def __init__(self, app_name: str, pepper_name: str, admin_name: str, max_age_s: int) -> None:
        self._names = (app_name, pepper_name, admin_name)
        self._max_age_s = max_age_s

    def _get(self, name: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        value: Any = parameters.get_secret(name, max_age=self._max_age_s)
        return value if isinstance(value, str) else value.decode()

    def app_secrets(self) -> AppSecrets:
        app_name, pepper_name, admin_name = self._names
        app = json.loads(self._get(app_name))
        keys = {str(app["kid"]): str(app["signing_key"]).encode()}
        previous = app.get("previous")
        if isinstance(previous, dict):
            keys[str(previous["kid"])] = str(previous["signing_key"]).encode()
        return AppSecrets(token_keys=keys, current_kid=str(app["kid"]),
                          phone_pepper=self._get(pepper_name).encode(),
                          admin_token=self._get(admin_name))
