"""How far behind the hub is: device messages waiting in its device-event queue (the embedded AWS)."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("localcloud.simulator")
ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


class DeviceQueue:
    """``depth()`` is the number of device messages the hub has received but not yet processed, or None
    when the queue cannot be read (then the simulator judges the hub by what its API shows)."""

    def __init__(self, endpoint: str | None, region: str) -> None:
        self._url: str | None = None
        self._client: Any = None
        if not endpoint:
            return
        try:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("sqs", endpoint_url=endpoint, region_name=region,
                                        aws_access_key_id="local", aws_secret_access_key="local",  # noqa: S106
                                        config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=5))
            name = os.environ.get("LINLI_DEVICE_EVENTS_QUEUE", "linli-device-events")
            self._url = self._client.get_queue_url(QueueName=name)["QueueUrl"]
        except Exception:
            log.debug("device queue not readable at %s", endpoint, exc_info=True)
            self._url = None

    @property
    def readable(self) -> bool:
        return self._url is not None

    def depth(self) -> int | None:
        if self._url is None:
            return None
        try:
            found = self._client.get_queue_attributes(QueueUrl=self._url, AttributeNames=ATTRIBUTES)["Attributes"]
        except Exception:
            return None
        return sum(int(found.get(name, 0)) for name in ATTRIBUTES)
