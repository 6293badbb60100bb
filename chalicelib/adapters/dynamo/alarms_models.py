"""PynamoDB items of alarms, in the hub table (see models.py for the rest; the keys are keys.py's).

  ALARM#{aid}               A     an alarm    gsi1: ALARMS#{cid}#{status} / {opened_ms}#{aid}
                                              gsi2 while an ack is due: ALARM_ESCALATION#{n} / {due_ms}#{aid}
  ALARM_KEY#{cid}#{dedup}   K     the not-cleared alarm of a condition (deleted when cleared)
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem


class AlarmItem(HubItem, discriminator="alarm"):
    """The alarm as JSON plus what conditions and indexes need."""

    alarm_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    data = JSONAttribute()


class AlarmKeyItem(HubItem, discriminator="alarm_key"):
    alarm_id = UnicodeAttribute()
