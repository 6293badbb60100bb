"""The notification channels' book in DynamoDB (items in notify_models.py)."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.dynamo.models import HubItem
from chalicelib.adapters.dynamo.notify_models import (
    AllowanceItem,
    InboxLineItem,
    NoticeReaderItem,
    NotifyMarkItem,
    NotifySettingsItem,
    TvFeedItem,
    allowance_key,
    inbox_partition,
    mark_key,
    owner_partition,
    readers_partition,
    settings_key,
    tv_key,
)
from chalicelib.adapters.dynamo.paging import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.txn import condition_failed
from chalicelib.domain.notify import QuietHours
from chalicelib.ports import InboxItem, Page

#: how long a channel may take to send before another delivery of the message may try again
LEASE_MS = 5 * 60 * 1000
MARK_TTL_S = 7 * 24 * 3600
INBOX_TTL_S = 90 * 24 * 3600
MAX_LISTED = 500


class DynamoNotifyBook:
    # ------------------------------------------------------------------------------ delivery marks
    def claim(self, mark: str, now_ms: int) -> bool:
        pk, sk = mark_key(mark)
        item = NotifyMarkItem(pk, sk, state="sending", lease_until_ms=now_ms + LEASE_MS,
                              expires_at=now_ms // 1000 + MARK_TTL_S)
        stale = (NotifyMarkItem.state == "sending") & (NotifyMarkItem.lease_until_ms < now_ms)
        try:
            item.save(condition=HubItem.pk.does_not_exist() | stale)
        except PutError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def sent(self, mark: str, now_ms: int) -> None:
        pk, sk = mark_key(mark)
        NotifyMarkItem(pk, sk, state="sent", lease_until_ms=now_ms,
                       expires_at=now_ms // 1000 + MARK_TTL_S).save()

    def release(self, mark: str) -> None:
        pk, sk = mark_key(mark)
        try:
            NotifyMarkItem(pk, sk).delete(condition=NotifyMarkItem.state == "sending")
        except DeleteError as exc:
            if not condition_failed(exc):
                raise

    # ---------------------------------------------------------------------------------- allowances
    def grant(self, resident_id: str, template_ids: Sequence[str]) -> None:
        for template_id in template_ids:
            pk, sk = allowance_key(resident_id, template_id)
            AllowanceItem(pk, sk).update(actions=[AllowanceItem.template_id.set(template_id),
                                                  AllowanceItem.remaining.add(1),
                                                  AllowanceItem.type.set(AllowanceItem)])

    def use(self, resident_id: str, template_id: str) -> bool:
        pk, sk = allowance_key(resident_id, template_id)
        try:
            AllowanceItem(pk, sk).update(actions=[AllowanceItem.remaining.add(-1)],
                                         condition=AllowanceItem.remaining > 0)
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def give_back(self, resident_id: str, template_id: str) -> None:
        self.grant(resident_id, [template_id])

    def use_up(self, resident_id: str, template_id: str) -> None:
        pk, sk = allowance_key(resident_id, template_id)
        AllowanceItem(pk, sk, template_id=template_id, remaining=0).save()

    def allowances(self, resident_id: str) -> dict[str, int]:
        pk = owner_partition(f"resident:{resident_id}")
        found = HubItem.query(pk, HubItem.sk.startswith("ALLOW#"), limit=MAX_LISTED)
        return {i.template_id: int(i.remaining) for i in found if isinstance(i, AllowanceItem)}

    # --------------------------------------------------------------------------------- quiet hours
    def quiet_hours(self, resident_id: str) -> QuietHours | None:
        pk, sk = settings_key(resident_id)
        try:
            item = NotifySettingsItem.get(pk, sk)
        except NotifySettingsItem.DoesNotExist:
            return None
        if item.quiet_start_min is None or item.quiet_end_min is None:
            return None
        return QuietHours(int(item.quiet_start_min), int(item.quiet_end_min))

    def set_quiet_hours(self, resident_id: str, quiet: QuietHours | None) -> None:
        pk, sk = settings_key(resident_id)
        NotifySettingsItem(pk, sk, quiet_start_min=quiet.start_min if quiet else None,
                           quiet_end_min=quiet.end_min if quiet else None).save()

    # ------------------------------------------------------------------------------ notice readers
    def add_notice_reader(self, community_id: str, resident_id: str, building: str | None) -> None:
        NoticeReaderItem(readers_partition(community_id), resident_id, resident_id=resident_id,
                         building=building).save()

    def notice_readers(self, community_id: str) -> list[tuple[str, str | None]]:
        found = HubItem.query(readers_partition(community_id))
        return [(i.resident_id, i.building) for i in found if isinstance(i, NoticeReaderItem)]

    # ---------------------------------------------------------------------------------- staff inbox
    def add_to_inbox(self, item: InboxItem) -> None:
        InboxLineItem(inbox_partition(item.staff_id), f"{item.at_ms:013d}#{item.key}", staff_id=item.staff_id,
                      at_ms=item.at_ms, event_type=item.type, community_id=item.community_id, text=item.text,
                      key=item.key, data=dict(item.data), expires_at=item.at_ms // 1000 + INBOX_TTL_S).save()

    def inbox(self, staff_id: str, limit: int, cursor: str | None) -> Page[InboxItem]:
        partition = inbox_partition(staff_id)
        result = HubItem.query(partition, scan_index_forward=False, limit=limit,
                               last_evaluated_key=decode_cursor(cursor, "pk", partition))
        items = [InboxItem(staff_id=i.staff_id, at_ms=int(i.at_ms), type=i.event_type, community_id=i.community_id,
                           text=i.text, key=i.key, data=i.data or {})
                 for i in result if isinstance(i, InboxLineItem)]
        return Page(items=items, next_cursor=encode_cursor(result.last_evaluated_key))

    # -------------------------------------------------------------------------------------- tv feed
    def refresh_tv(self, community_id: str, now_ms: int) -> int:
        pk, sk = tv_key(community_id)
        item = TvFeedItem(pk, sk)
        item.update(actions=[TvFeedItem.version.add(1), TvFeedItem.refreshed_at_ms.set(now_ms),
                             TvFeedItem.type.set(TvFeedItem)])
        return int(item.version)

    def tv_feed(self, community_id: str) -> tuple[int, int] | None:
        pk, sk = tv_key(community_id)
        try:
            item = TvFeedItem.get(pk, sk)
        except TvFeedItem.DoesNotExist:
            return None
        return int(item.version), int(item.refreshed_at_ms)
