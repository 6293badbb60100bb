"""PynamoDB items of home security (kept out of models.py, which other capabilities share).

Key layout:
  HOME#{cid}#{household}    SECURITY          a household's away mode (JSON + version)
                                              gsi2 while an entry delay runs:
                                                SECURITY_ENTRY_DUE / {deadline_ms}#{cid}#{household}
  THING#{thing}             DEVICE            (models.DeviceItem) gsi2 while a device-offline alarm is
                                              open: OFFLINE_DEVICES#{cid} / {thing}
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import DeviceItem, HubItem


class HomeSecurityItem(HubItem, discriminator="home_security"):
    community_id = UnicodeAttribute()
    household = UnicodeAttribute()
    version = NumberAttribute()
    data = JSONAttribute()


def home_security_key(community_id: str, household: str) -> tuple[str, str]:
    return f"HOME#{community_id}#{household}", "SECURITY"


#: one partition: entry delays run for minutes in a handful of homes at a time, never a hot key
ENTRY_DUE = "SECURITY_ENTRY_DUE"
OFFLINE_DEVICES_PREFIX = "OFFLINE_DEVICES#"


def offline_devices(community_id: str) -> str:
    return OFFLINE_DEVICES_PREFIX + community_id


def has_offline_alarm(item: DeviceItem) -> bool:
    """Whether a device item carries the offline-alarm mark (read by ``devices.to_device``)."""
    return item.gsi2pk is not None and item.gsi2pk == offline_devices(item.community_id)
