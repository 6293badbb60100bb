"""PynamoDB items of doors and visitor passes, in the hub table (see models.py for the rest).

  DOOR#{cid}#{door}      {ts_ms}#{thing}#{event_id}  one access-log entry (TTL 90 days), newest last
  PASS#{pass_id}         P                 a visitor pass   gsi1: PASSES#{rid} / {created_ms}#{pass_id}
  PASS_CODE#{code_hash}  C                 which pass a code opens (written with the pass, same TTL)

A pass is looked up by its code with a consistent read of the code item (not through an index), so a
pass works at the door the moment it is created.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem


def door_log(community_id: str, door: str) -> str:
    return f"DOOR#{community_id}#{door}"


def access_sk(ts_ms: int, thing_name: str, event_id: str) -> str:
    return f"{ts_ms:013d}#{thing_name}#{event_id}"


def pass_key(pass_id: str) -> tuple[str, str]:
    return f"PASS#{pass_id}", "P"


def pass_code_key(code_hash: str) -> tuple[str, str]:
    return f"PASS_CODE#{code_hash}", "C"


def passes_of(resident_id: str) -> str:
    return f"PASSES#{resident_id}"


class AccessEntryItem(HubItem, discriminator="door_access"):
    community_id = UnicodeAttribute()
    door = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    event_id = UnicodeAttribute()
    ts_ms = NumberAttribute()
    result = UnicodeAttribute()
    method = UnicodeAttribute()
    pass_id = UnicodeAttribute(null=True)


class VisitorPassItem(HubItem, discriminator="visitor_pass"):
    pass_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    resident_id = UnicodeAttribute()
    building = UnicodeAttribute()
    room = UnicodeAttribute()
    code_hash = UnicodeAttribute()
    valid_from_ms = NumberAttribute()
    valid_until_ms = NumberAttribute()
    created_at_ms = NumberAttribute()
    visitor_name = UnicodeAttribute(null=True)
    revoked_at_ms = NumberAttribute(null=True)
    uses = NumberAttribute(default=0)
    last_used_at_ms = NumberAttribute(null=True)


class PassCodeItem(HubItem, discriminator="visitor_pass_code"):
    pass_id = UnicodeAttribute()
