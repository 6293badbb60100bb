"""PynamoDB items of meters and household usage, in the hub table (see models.py for the rest).

  METER#{thing}                          WINDOW         a meter's recent readings (JSON) and version
  USAGE#{cid}#{household}                {YYYYMMDD}#{unit}  a household's usage on a China day: ``total``
                                                          and ``h00``–``h23`` in litres / Wh (TTL 400 d)
  HOUSEHOLD#{cid}#{building}#{room}      RESIDENT#{rid}  a resident who set this residence

Hours are top-level numbers because DynamoDB's ADD (which lets two meters of one household, and
retried transactions of one meter, add without reading) works on top-level attributes only.
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem

#: a year of history for staff, and a month to spare
USAGE_TTL_S = 400 * 24 * 3600


def meter_window_key(thing_name: str) -> tuple[str, str]:
    return f"METER#{thing_name}", "WINDOW"


def usage_of(community_id: str, household: str) -> str:
    return f"USAGE#{community_id}#{household}"


def usage_sk(day: str, unit: str) -> str:
    return f"{day}#{unit}"


def household_key(community_id: str, building: str, room: str) -> str:
    return f"HOUSEHOLD#{community_id}#{building}#{room}"


class MeterWindowItem(HubItem, discriminator="meter_window"):
    community_id = UnicodeAttribute()
    points = JSONAttribute()  # [[ts_ms, milli, event_id], ...] ascending
    kept_from_ms = NumberAttribute(null=True)
    version = NumberAttribute()


class UsageDayItem(HubItem, discriminator="usage_day"):
    community_id = UnicodeAttribute(null=True)
    household = UnicodeAttribute(null=True)
    day = UnicodeAttribute(null=True)
    unit = UnicodeAttribute(null=True)
    total = NumberAttribute(null=True)
    h00 = NumberAttribute(null=True)
    h01 = NumberAttribute(null=True)
    h02 = NumberAttribute(null=True)
    h03 = NumberAttribute(null=True)
    h04 = NumberAttribute(null=True)
    h05 = NumberAttribute(null=True)
    h06 = NumberAttribute(null=True)
    h07 = NumberAttribute(null=True)
    h08 = NumberAttribute(null=True)
    h09 = NumberAttribute(null=True)
    h10 = NumberAttribute(null=True)
    h11 = NumberAttribute(null=True)
    h12 = NumberAttribute(null=True)
    h13 = NumberAttribute(null=True)
    h14 = NumberAttribute(null=True)
    h15 = NumberAttribute(null=True)
    h16 = NumberAttribute(null=True)
    h17 = NumberAttribute(null=True)
    h18 = NumberAttribute(null=True)
    h19 = NumberAttribute(null=True)
    h20 = NumberAttribute(null=True)
    h21 = NumberAttribute(null=True)
    h22 = NumberAttribute(null=True)
    h23 = NumberAttribute(null=True)


class HouseholdResidentItem(HubItem, discriminator="household_resident"):
    resident_id = UnicodeAttribute()
    added_at_ms = NumberAttribute()
