"""PynamoDB items of irrigation, in the hub table (see models.py for the rest).

  IRRIGATION#{cid}        ZONE#{zone}                   a zone: staff's threshold and skip days, and the
                                                        watering state (JSON, version-conditioned)
  IRRIGATION_CMDS#{cid}   {ts_ms}#{command_id}          a water command issued (TTL 90 days), oldest first
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem

COMMAND_TTL_S = 90 * 24 * 3600


def zones_of(community_id: str) -> str:
    return f"IRRIGATION#{community_id}"


def zone_sk(zone: str) -> str:
    return f"ZONE#{zone}"


def commands_of(community_id: str) -> str:
    return f"IRRIGATION_CMDS#{community_id}"


class ZoneItem(HubItem, discriminator="irrigation_zone"):
    zone = UnicodeAttribute()
    moisture_pct = NumberAttribute(null=True)  # staff's threshold for this zone
    skip_days = JSONAttribute(null=True)
    state = JSONAttribute(null=True)  # the watering state the soil readings move
    version = NumberAttribute(null=True)


class WaterCommandItem(HubItem, discriminator="water_command"):
    data = JSONAttribute()
