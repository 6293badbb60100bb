"""AWS control- and data-plane clients the hub uses besides DynamoDB: IoT registry."""

from __future__ import annotations

from typing import Any


class IotThingRegistry:
    """Registered devices become IoT things (attribute ``community_id``); idempotent."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _iot(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("iot")
        return self._client

    def ensure_thing(self, thing_name: str, community_id: str, device_type: str) -> None:
        iot = self._iot()
        attributes = {"attributes": {"community_id": community_id, "device_type": device_type}}
        try:
            iot.create_thing(thingName=thing_name, attributePayload=attributes)
        except iot.exceptions.ResourceAlreadyExistsException:
            iot.update_thing(thingName=thing_name, attributePayload={**attributes, "merge": True})
