"""Standard Webhooks signatures, made by the ``standardwebhooks`` library itself.

``webhook-signature`` carries one ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` per secret that
still signs, separated by spaces (the spec allows several; a receiver accepts the delivery if any one
matches). During a secret rotation that is two: a receiver holding either secret verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook


class StandardWebhookSigner:
    def headers(self, message_id: str, timestamp_s: int, body: str, secrets: Sequence[str]) -> dict[str, str]:
        if not secrets:
            raise ValueError("a delivery needs at least one signing secret")
        at = datetime.fromtimestamp(timestamp_s, UTC)
        signatures = [Webhook(secret).sign(message_id, at, body) for secret in secrets]
        return {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp_s),
            "webhook-signature": " ".join(signatures),
        }
