"""PynamoDB items of the notification fan-out, in the hub table (see models.py for the rest).

  NOTIFY_MARK#{mark}          N                 a notification sent (or being sent) once (TTL 7 days)
  NOTIFY#resident:{rid}       ALLOW#{template}  a resident's subscribe-message allowance for a template
  NOTIFY#resident:{rid}       SETTINGS          a resident's quiet hours
  NOTIFY#{owner}              CONTACT           a resident's / staff member's phone, sealed (AES-GCM)
  NOTICE_READERS#{cid}        {rid}             a resident who subscribed to the community's notices
  INBOX#{sid}                 {at_ms}#{key}     a line in a staff member's inbox (TTL 90 days)
  TV_FEED#{cid}               FEED              the community's TV feed version and last refresh
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem


def mark_key(mark: str) -> tuple[str, str]:
    return f"NOTIFY_MARK#{mark}", "N"


def owner_partition(owner: str) -> str:
    return f"NOTIFY#{owner}"


def allowance_key(resident_id: str, template_id: str) -> tuple[str, str]:
    return owner_partition(f"resident:{resident_id}"), f"ALLOW#{template_id}"


def settings_key(resident_id: str) -> tuple[str, str]:
    return owner_partition(f"resident:{resident_id}"), "SETTINGS"


def contact_key(owner: str) -> tuple[str, str]:
    return owner_partition(owner), "CONTACT"


def readers_partition(community_id: str) -> str:
    return f"NOTICE_READERS#{community_id}"


def inbox_partition(staff_id: str) -> str:
    return f"INBOX#{staff_id}"


def tv_key(community_id: str) -> tuple[str, str]:
    return f"TV_FEED#{community_id}", "FEED"


class NotifyMarkItem(HubItem, discriminator="notify_mark"):
    state = UnicodeAttribute()  # sending | sent
    lease_until_ms = NumberAttribute()


class AllowanceItem(HubItem, discriminator="notify_allowance"):
    template_id = UnicodeAttribute()
    remaining = NumberAttribute()


class NotifySettingsItem(HubItem, discriminator="notify_settings"):
    quiet_start_min = NumberAttribute(null=True)
    quiet_end_min = NumberAttribute(null=True)


class ContactItem(HubItem, discriminator="notify_contact"):
    sealed = UnicodeAttribute()  # base64url(nonce || AES-GCM ciphertext)


class NoticeReaderItem(HubItem, discriminator="notice_reader"):
    resident_id = UnicodeAttribute()
    building = UnicodeAttribute(null=True)


class InboxLineItem(HubItem, discriminator="inbox_line"):
    staff_id = UnicodeAttribute()
    at_ms = NumberAttribute()
    event_type = UnicodeAttribute()
    community_id = UnicodeAttribute()
    text = UnicodeAttribute()
    key = UnicodeAttribute()
    data = JSONAttribute()


class TvFeedItem(HubItem, discriminator="tv_feed"):
    version = NumberAttribute()
    refreshed_at_ms = NumberAttribute()
