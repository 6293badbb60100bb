"""PynamoDB items of notices and the TV page, in the hub table (see models.py for the rest).

  NOTICES#{cid}   {notice_id}   a notice (ids are time-ordered, so the partition reads newest first);
                                TTL a day after it expires, if it does
  TV#{cid}        TV            the TV page's service phone numbers and weather note
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute

from chalicelib.adapters.dynamo.models import HubItem

#: an expired notice stays a day (staff can still see what ran) before DynamoDB deletes it
EXPIRED_KEPT_S = 24 * 3600


def notices_of(community_id: str) -> str:
    return f"NOTICES#{community_id}"


def tv_key(community_id: str) -> tuple[str, str]:
    return f"TV#{community_id}", "TV"


class NoticeItem(HubItem, discriminator="notice"):
    data = JSONAttribute()


class TvInfoItem(HubItem, discriminator="tv_info"):
    data = JSONAttribute()
